"""Reads what the Java serde registered, with Debian's python3-confluent-kafka SchemaRegistryClient.

Usage: /usr/bin/python3 sr_read.py URL SUBJECT...
Prints one JSON object: per subject the latest id/version, get_schema(id)'s record name, whether
lookup_schema finds the same id, and test_compatibility of the latest schema against itself.
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient


def main(url, subjects):
    client = SchemaRegistryClient({"url": url})
    out = {"subjects": sorted(client.get_subjects()), "read": {}}
    for subject in subjects:
        latest = client.get_latest_version(subject)
        by_id = client.get_schema(latest.schema_id)
        found = client.lookup_schema(subject, Schema(by_id.schema_str, "AVRO"))
        parsed = json.loads(by_id.schema_str)
        out["read"][subject] = {
            "id": latest.schema_id,
            "version": latest.version,
            "name": parsed["namespace"] + "." + parsed["name"],
            "lookup_id": found.schema_id,
            "compatible_with_itself": client.test_compatibility(subject, Schema(by_id.schema_str, "AVRO")),
        }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
