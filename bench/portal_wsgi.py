"""The portal as ``wsgi:app`` serves it, except that the environment is handed to the factory.

``wsgi.py`` calls ``create_app()`` with no ``env``, and the factory then takes the instance folder from
``env`` only (``(env or {}).get("PORTAL_INSTANCE_PATH")``), so ``PORTAL_INSTANCE_PATH`` in the process
environment is ignored and the key ring, signing key and secrets land in the repository's ``instance/``.
Passing ``os.environ`` keeps the benchmark's keys in its scratch folder (see bench/README.md).

    gunicorn --pythonpath bench -w 2 -k sync portal_wsgi:app
"""

import os

from portal.app import create_app

app = create_app(env=dict(os.environ))
