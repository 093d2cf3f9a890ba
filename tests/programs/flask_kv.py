"""The guide's Flask example (examples/flask_app.py), unmodified, run with
Flask's development server threaded or not.

  flask_kv.py <port> threaded|unthreaded [marker]

A marker, ignored, lets a test find the process.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))

from flask_app import app  # noqa: E402

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=sys.argv[2] == "threaded")
