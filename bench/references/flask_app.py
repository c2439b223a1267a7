"""The seed's Flask prototype: `/ping`, the fake `/login` and the 10 ms `/api/data`, as the seed wrote them.

Served by gunicorn with gevent workers (the seed's deployment), which monkey-patches `time.sleep`, so the
10 ms sleep yields to other greenlets as a real blocking I/O call would under gevent.
"""

from __future__ import annotations

import time

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/ping")
def ping():  # type: ignore[no-untyped-def]
    return jsonify(message="pong")


@app.post("/login")
def login():  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True) or {}
    username, password = body.get("username"), body.get("password")
    if not username or not password:
        return jsonify(error="invalid request"), 400
    # The seed's "database check" (it says bcrypt should be used; it compares plain strings).
    if username == "admin" and password == "secure123":
        return jsonify(token="fake-jwt-token")
    return jsonify(error="invalid credentials"), 401


@app.get("/api/data")
def get_data():  # type: ignore[no-untyped-def]
    time.sleep(0.01)  # the seed's simulated I/O delay
    return jsonify(status="success")
