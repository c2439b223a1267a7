"""The seed's three endpoints on FastAPI + uvicorn: what a Python developer would pick today.

Idiomatic FastAPI: a pydantic model validates the login body, the I/O endpoint awaits `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

app = FastAPI()


class LoginRequest(BaseModel):
    username: str
    password: str


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"message": "pong"}


@app.post("/login")
async def login(body: LoginRequest) -> JSONResponse:
    if not body.username or not body.password:
        return JSONResponse({"error": "invalid request"}, status_code=400)
    if body.username == "admin" and body.password == "secure123":
        return JSONResponse({"token": "fake-jwt-token"})
    return JSONResponse({"error": "invalid credentials"}, status_code=401)


@app.get("/api/data")
async def get_data() -> dict[str, str]:
    await asyncio.sleep(0.01)
    return {"status": "success"}
