"""Itinera: wiring only.

The Chalice app, its middleware, the blueprints of each context, and the SQS / schedule entry
points. Those entry points must be defined here, not in blueprints, or app-level middleware
never runs for them (DESIGN pitfall 3).
"""
from chalice import Chalice, ConvertToMiddleware

from chalicelib.core.http import http_middleware
from chalicelib.core.observability import logger, metrics
from chalicelib.identity.routes import bp as identity_routes
from chalicelib.ops.routes import bp as ops_routes

app = Chalice(app_name="itinera")

# Outermost first: metrics flush after everything, logs carry the Lambda context, then the
# HTTP layer sets the request id (the log correlation id) and maps errors.
app.register_middleware(ConvertToMiddleware(metrics.log_metrics), "all")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context), "all")
app.register_middleware(http_middleware, "http")

app.register_blueprint(ops_routes)
app.register_blueprint(identity_routes)
