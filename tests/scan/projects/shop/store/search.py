import pysolr
from haystack import connections
from opensearchpy import OpenSearch

solr = pysolr.Solr("http://localhost:8983/solr/profiles", timeout=5)


def get_client() -> OpenSearch:
    return OpenSearch(hosts=["localhost"])


def index_profile(profile):
    get_client().index(index="profiles", id=profile.pk, body={"name": profile.name})  # scan: defer


def reindex_all(profiles):
    for profile in profiles:
        solr.add([{"id": profile.pk, "name": profile.name}])  # scan: defer batch
    index = connections["default"].get_unified_index().get_index(type(profiles[0]))
    index.update_object(profiles[0])  # scan: defer
