"""The portal with the fixes proposed in bench/README.md applied (``bench/patched.py``), for measuring
them beside the unchanged app in the same run.

    gunicorn --pythonpath bench -w 2 -k sync patched_wsgi:app
"""

import os

import patched

from portal import create_app

patched.apply()
app = create_app(env=dict(os.environ))
patched.install_user_loader(app)
