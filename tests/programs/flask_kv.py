"""A small Flask key-value app, unmodified for the tests (the guide's
example): PUT /kv/<key> stores the body, GET /kv/<key> returns it.

  flask_kv.py <port> threaded|unthreaded [marker]

A marker, ignored, lets a test find the process.
"""

import sys

import flask

app = flask.Flask(__name__)
store = {}


@app.put("/kv/<key>")
def put(key):
    store[key] = flask.request.get_data(as_text=True)
    return "stored\n"


@app.get("/kv/<key>")
def get(key):
    if key not in store:
        return "no such key\n", 404
    return store[key]


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=sys.argv[2] == "threaded")
