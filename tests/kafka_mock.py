"""librdkafka's built-in mock Kafka cluster, driven through ctypes from the librdkafka that
confluent_kafka ships (its Python API does not expose the mock cluster's controls)."""

import ctypes
import glob
import os

import confluent_kafka


def _library() -> ctypes.CDLL:
    libs = os.path.join(os.path.dirname(confluent_kafka.__file__), os.pardir, "confluent_kafka.libs")
    lib = ctypes.CDLL(glob.glob(os.path.join(libs, "librdkafka*.so*"))[0])
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_broker_set_down.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_broker_set_up.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                               ctypes.c_int]
    return lib


class MockCluster:
    """A one-broker Kafka cluster on loopback, living in this process."""

    def __init__(self):
        self.lib = _library()
        error = ctypes.create_string_buffer(512)
        self.handle = self.lib.rd_kafka_new(0, None, error, len(error))  # a producer handle owns it
        self.cluster = self.lib.rd_kafka_mock_cluster_new(self.handle, 1)
        self.bootstrap = self.lib.rd_kafka_mock_cluster_bootstraps(self.cluster).decode()

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        assert self.lib.rd_kafka_mock_topic_create(self.cluster, topic.encode(), partitions, 1) == 0

    def broker_down(self) -> None:
        assert self.lib.rd_kafka_mock_broker_set_down(self.cluster, 1) == 0

    def broker_up(self) -> None:
        assert self.lib.rd_kafka_mock_broker_set_up(self.cluster, 1) == 0

    def close(self) -> None:
        self.lib.rd_kafka_mock_cluster_destroy(self.cluster)
        self.lib.rd_kafka_destroy(self.handle)
