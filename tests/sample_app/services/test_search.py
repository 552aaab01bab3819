from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from services import ElasticsearchService, Latency


@pytest.fixture
def search() -> Iterator[ElasticsearchService]:
    with ElasticsearchService() as service:
        yield service


@pytest.fixture
def client(search: ElasticsearchService) -> Iterator[Elasticsearch]:
    es = Elasticsearch(search.url, request_timeout=5, max_retries=0)
    yield es
    es.close()


def test_info_and_ping_with_the_product_header(search: ElasticsearchService, client: Elasticsearch) -> None:
    assert client.info()["tagline"] == "You Know, for Search"
    assert client.ping() is True
    response = requests.get(search.url + "/", timeout=5)
    assert response.headers["X-Elastic-Product"] == "Elasticsearch"
    assert response.json()["version"]["number"].startswith("9.")


def test_index_get_and_search(search: ElasticsearchService, client: Elasticsearch) -> None:
    assert (
        client.index(index="biz", id="1", document={"name": "Copper Plumbing", "city": "Leeds"})["result"]
        == "created"
    )
    client.index(index="biz", id="2", document={"name": "Maple Bakery", "city": "Leeds"})
    client.index(index="biz", id="3", document={"name": "Summit Advisory", "city": "Porto"})
    assert (
        client.index(index="biz", id="1", document={"name": "Copper Plumbing Ltd", "city": "Leeds"})["result"]
        == "updated"
    )
    auto = client.index(index="biz", document={"name": "Oak Studio"})
    assert auto["_id"]
    client.indices.refresh(index="biz")

    assert client.get(index="biz", id="1")["_source"]["name"] == "Copper Plumbing Ltd"
    with pytest.raises(NotFoundError):
        client.get(index="biz", id="404")

    hits = client.search(
        index="biz", query={"multi_match": {"query": "leeds plumbing", "fields": ["name^3", "city"]}}
    )
    assert hits["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert [hit["_id"] for hit in hits["hits"]["hits"]] == ["1", "2"]  # two words match before one
    assert client.search(index="biz", query={"match": {"city": "porto"}})["hits"]["hits"][0]["_id"] == "3"
    assert client.search(index="biz", query={"match_all": {}}, size=2)["hits"]["total"]["value"] == 4
    assert len(client.search(index="biz", size=2)["hits"]["hits"]) == 2
    bool_query = {
        "bool": {"must": [{"match": {"city": "leeds"}}], "must_not": [{"term": {"name": "Maple Bakery"}}]}
    }
    assert [h["_id"] for h in client.search(index="biz", query=bool_query)["hits"]["hits"]] == ["1"]
    assert set(search.documents("biz")) >= {"1", "2", "3"}


def test_missing_index_and_unsupported_query(client: Elasticsearch) -> None:
    with pytest.raises(NotFoundError):
        client.search(index="nothing-here", query={"match_all": {}})
    client.index(index="biz", id="1", document={"name": "x"})
    with pytest.raises(ApiError) as raised:
        client.search(index="biz", query={"geo_shape": {"location": {}}})
    assert raised.value.meta.status == 400


def test_create_index_and_exists(client: Elasticsearch) -> None:
    assert not client.indices.exists(index="fresh")
    client.indices.create(index="fresh")
    assert client.indices.exists(index="fresh")


def test_a_failing_call_still_carries_the_product_header(
    search: ElasticsearchService, client: Elasticsearch
) -> None:
    search.latency = Latency(fail_rate=1.0)
    with pytest.raises(ApiError) as raised:
        client.index(index="biz", id="1", document={"name": "x"})
    assert raised.value.meta.status == 503
    assert search.documents("biz") == {}
