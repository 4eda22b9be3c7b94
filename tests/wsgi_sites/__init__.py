"""Small sites (Flask, Django, Starlette, a plain WSGI app) served by real servers in
tests/test_wsgi_servers.py, and what they share with the tests (`common`)."""
