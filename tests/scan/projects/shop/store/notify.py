import asyncio

import httpx


class Notifier:
    def __init__(self):
        self.client = httpx.Client(base_url="https://hooks.example.com", timeout=5)

    def ping(self, event):
        self.client.post("/events", json={"event": event})  # scan: defer


def deep_one(value):
    return deep_two(value)


def deep_two(value):
    import aiohttp

    async def send():
        async with aiohttp.ClientSession() as session:
            await session.post(  # scan: defer no_timeout
                "https://analytics.example.com/track", json={"v": value}
            )

    asyncio.run(send())
