"""HTTP API: the Flask application factory and its blueprints."""
