"""The web page's static files (``static/``: HTML, JS, CSS and the vendored libraries), served by fis.api.web."""
