"""``python -m portal.crypto``: print a new production key ring without building the app, which in
production cannot start until it has a key ring (the ``keys-generate`` command needs one)."""

import json

from portal.crypto.ring import KeyRing

if __name__ == "__main__":
    print(json.dumps(KeyRing.generate().to_json_dict(), indent=2))
