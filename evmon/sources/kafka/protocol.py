"""Kafka protocol requests evmon builds by hand, and the cluster client under a consumer.

aiokafka's admin calls cannot do what evmon needs (its ``describe_consumer_groups`` parses a
v3 response with the v2 schema, its ``list_consumer_group_offsets`` reads errors from the
wrong field, and it cannot send ConsumerGroupDescribe, API 69, at all), so the lag client
sends requests built from aiokafka's protocol types with ``AIOKafkaClient.send`` and unpacks
the responses by position. Those types, the request classes written here (DescribeGroups
v3 with its response, ConsumerGroupDescribe v0 with the flexible-version types, OffsetFetch
v8 for many groups at once) and
``consumer_client`` (``AIOKafkaConsumer._client``: one metadata request, a ping) are the
only places evmon uses aiokafka's protocol layer or reaches into a consumer;
``tests/test_third_party_internals.py`` checks each.
"""

from __future__ import annotations

from io import BytesIO

from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.protocol.abstract import AbstractType
from aiokafka.protocol.admin import (
    ApiVersionRequest,
    DeleteGroupsRequest,
    DescribeGroupsRequest_v3,
    DescribeGroupsResponse_v3,
    ListGroupsRequest,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

__all__ = [
    "ApiVersionRequest",
    "ConsumerGroupDescribe",
    "ConsumerGroupDescribeResponseV0",
    "DeleteGroupsRequest",
    "DescribeGroups",
    "FindCoordinatorRequest",
    "ListGroupsRequest",
    "OffsetFetchGroups",
    "OffsetFetchRequest",
    "OffsetRequest",
    "consumer_client",
    "decode_assignment",
]

TP = tuple[str, int]


def consumer_client(consumer: AIOKafkaConsumer) -> AIOKafkaClient:
    """The cluster client a started consumer talks through (``_client``): its metadata
    and ``send`` serve the tail's discovery and pings and a skip's topic check."""
    client: AIOKafkaClient = consumer._client
    return client


# --------------------------------------------------------------------------- wire structs


class _DescribeGroupsV3(DescribeGroupsRequest_v3):  # type: ignore[misc]
    RESPONSE_TYPE = DescribeGroupsResponse_v3


class DescribeGroups(Request[_DescribeGroupsV3]):  # type: ignore[misc]
    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[_DescribeGroupsV3]) -> _DescribeGroupsV3:
        return request_struct_class(self._groups, False)


class _Uuid(AbstractType[bytes]):  # type: ignore[misc]
    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        return data.read(16)


_TOPIC_PARTITIONS = CompactArray(
    ("topic_id", _Uuid),
    ("topic_name", CompactString("utf-8")),
    ("partitions", CompactArray(Int32)),
    ("tags", TaggedFields),
)
_ASSIGNMENT = Schema(("topics", _TOPIC_PARTITIONS), ("tags", TaggedFields))


class ConsumerGroupDescribeResponseV0(Response):  # type: ignore[misc]
    API_KEY = 69
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "groups",
            CompactArray(
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("group_id", CompactString("utf-8")),
                ("group_state", CompactString("utf-8")),
                ("group_epoch", Int32),
                ("assignment_epoch", Int32),
                ("assignor_name", CompactString("utf-8")),
                (
                    "members",
                    CompactArray(
                        ("member_id", CompactString("utf-8")),
                        ("instance_id", CompactString("utf-8")),
                        ("rack_id", CompactString("utf-8")),
                        ("member_epoch", Int32),
                        ("client_id", CompactString("utf-8")),
                        ("client_host", CompactString("utf-8")),
                        ("subscribed_topic_names", CompactArray(CompactString("utf-8"))),
                        ("subscribed_topic_regex", CompactString("utf-8")),
                        (
                            "assignment",
                            Schema(("topics", _TOPIC_PARTITIONS), ("tags", TaggedFields)),
                        ),
                        ("target", Schema(("topics", _TOPIC_PARTITIONS), ("tags", TaggedFields))),
                        ("tags", TaggedFields),
                    ),
                ),
                ("authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _ConsumerGroupDescribeV0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 69
    API_VERSION = 0
    RESPONSE_TYPE = ConsumerGroupDescribeResponseV0
    SCHEMA = Schema(
        ("group_ids", CompactArray(CompactString("utf-8"))),
        ("include_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class ConsumerGroupDescribe(Request[_ConsumerGroupDescribeV0]):  # type: ignore[misc]
    API_KEY = 69

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(
        self, request_struct_class: type[_ConsumerGroupDescribeV0]
    ) -> _ConsumerGroupDescribeV0:
        return request_struct_class(self._groups, False, {})


class OffsetFetchGroupsResponseV8(Response):  # type: ignore[misc]
    API_KEY = 9
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "groups",
            CompactArray(
                ("group_id", CompactString("utf-8")),
                (
                    "topics",
                    CompactArray(
                        ("name", CompactString("utf-8")),
                        (
                            "partitions",
                            CompactArray(
                                ("partition_index", Int32),
                                ("committed_offset", Int64),
                                ("committed_leader_epoch", Int32),
                                ("metadata", CompactString("utf-8")),
                                ("error_code", Int16),
                                ("tags", TaggedFields),
                            ),
                        ),
                        ("tags", TaggedFields),
                    ),
                ),
                ("error_code", Int16),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _OffsetFetchGroupsV8(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 8
    RESPONSE_TYPE = OffsetFetchGroupsResponseV8
    SCHEMA = Schema(
        (
            "groups",
            CompactArray(
                ("group_id", CompactString("utf-8")),
                (
                    "topics",
                    CompactArray(
                        ("name", CompactString("utf-8")),
                        ("partition_indexes", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class OffsetFetchGroups(Request[_OffsetFetchGroupsV8]):  # type: ignore[misc]
    """OffsetFetch v8 (KIP-709, Kafka 3.0+): the committed offsets of many groups, every
    partition of each (``topics`` null), in one request to their coordinator. A broker
    without v8 makes ``send`` raise before anything is sent; ask one group at a time."""

    API_KEY = 9

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[_OffsetFetchGroupsV8]) -> _OffsetFetchGroupsV8:
        return request_struct_class([(g, None, {}) for g in self._groups], False, {})


def decode_assignment(raw: bytes | None) -> list[TP]:
    """Partitions in a classic member's assignment (consumer protocol, any version)."""
    if not raw:
        return []
    try:
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
    except Exception:  # a non-consumer protocol (Connect, Streams with extra data...)
        return []
    return [(topic, p) for topic, parts in assignment.assignment for p in parts]
