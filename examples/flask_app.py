# A Flask key-value app, as it would run in production: nothing in it knows
# about tests. flask_clone_test.cc clones it warm for every test.
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
    return (store[key], 200) if key in store else ("no such key\n", 404)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
