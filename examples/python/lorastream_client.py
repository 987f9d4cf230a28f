"""A lorastream client in Python: plain Kafka, Avro and the Confluent wire format, no Java.

Talks to a running `./lorastream demo --serve` (or any lorastream deployment without authentication):

  1. looks the value schemas up in the schema registry (subjects lora.requests-value, lora.adapters-value);
  2. reads the adapter catalog from lora.adapters;
  3. registers an adapter of its own on lora.adapters (an AdapterRecord pointing at a PEFT folder the consumer
     may read: it must lie under one of the consumer's adapter roots);
  4. sends requests to lora.requests (prompt text AND promptTokenIds: the batcher counts tokens and refuses
     text-only requests with INVALID_PARAMS, so the client tokenizes with the served model's tokenizer.json);
  5. reads its replies from lora.replies and prints them.

Exits 0 only if every request got a reply without an error code (every request sent here is valid), 1 otherwise,
2 on bad arguments. Needs Debian's python3-confluent-kafka and python3-avro; run it with /usr/bin/python3.
"""
import argparse
import hashlib
import io
import json
import os
import pathlib
import struct
import sys
import time
import uuid

import avro.io
import avro.schema
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

REQUESTS = "lora.requests"
REPLIES = "lora.replies"
ADAPTERS = "lora.adapters"
REPO = pathlib.Path(__file__).resolve().parents[2]
PROMPTS = ["The ", "def ", "c", "# ", "Copyright "]


class Fail(Exception):
    """A problem worth one clear line, not a traceback."""


# --- Confluent wire format: magic byte 0, big-endian int32 schema id, Avro binary -------------------------------

class Avro:
    """Encodes and decodes framed Avro values, writer schemas looked up in the registry by subject or id."""

    def __init__(self, registry_url):
        self.registry = SchemaRegistryClient({"url": registry_url})
        self.by_id = {}

    def latest(self, subject):
        """(schema id, parsed schema) of the latest version registered under subject."""
        try:
            registered = self.registry.get_latest_version(subject)
        except Exception as e:  # SchemaRegistryError, or the registry cannot be reached
            raise Fail(f"cannot look up subject {subject} in the registry: {e}") from e
        schema = avro.schema.parse(registered.schema.schema_str)
        self.by_id[registered.schema_id] = schema
        return registered.schema_id, schema

    def encode(self, schema_id, schema, value):
        out = io.BytesIO()
        out.write(struct.pack(">bI", 0, schema_id))
        avro.io.DatumWriter(schema).write(self.with_defaults(schema, value), avro.io.BinaryEncoder(out))
        return out.getvalue()

    @staticmethod
    def with_defaults(schema, value):
        """value with each record field it leaves out set to the schema's default, recursively: the latest
        registered schema may have fields added since this client was written (Avro's writer does not fill them)."""
        if schema.type != "record" or not isinstance(value, dict):
            return value
        filled = dict(value)
        for f in schema.fields:
            if f.name in filled:
                filled[f.name] = Avro.with_defaults(f.type, filled[f.name])
            elif f.has_default:
                filled[f.name] = f.default
        return filled

    def decode(self, data):
        if data is None or len(data) < 5 or data[0] != 0:
            raise Fail(f"not a Confluent-framed Avro value: {data[:8]!r}")
        schema_id = struct.unpack(">I", data[1:5])[0]
        schema = self.by_id.get(schema_id)
        if schema is None:
            schema = avro.schema.parse(self.registry.get_schema(schema_id).schema_str)
            self.by_id[schema_id] = schema
        return avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[5:])))


# --- the served model's tokenizer -------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's byte -> printable character table, used by Hugging Face's ByteLevel pre-tokenizer."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class ByteTokenizer:
    """Encodes text with a tokenizer.json whose vocabulary is byte-level BPE without merges (one token per byte),
    as models/lorastream-demo's; the template's special tokens (e.g. <s>) are added as Hugging Face does."""

    def __init__(self, path):
        try:
            spec = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise Fail(f"cannot read tokenizer {path}: {e}") from e
        model = spec.get("model", {})
        pre = spec.get("pre_tokenizer") or {}
        if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or model.get("merges"):
            raise Fail(f"{path}: this example encodes only byte-level BPE vocabularies without merges (like"
                       " models/lorastream-demo/tokenizer.json); for another model, tokenize with its own tokenizer")
        vocab = model["vocab"]
        table = bytes_to_unicode()
        try:
            self.byte_ids = [vocab[table[b]] for b in range(256)]
        except KeyError as e:
            raise Fail(f"{path}: byte-level vocabulary lacks the character {e}") from e
        post = spec.get("post_processor") or {}
        self.template = post.get("single", [{"Sequence": {"id": "A"}}]) if post.get("type") == "TemplateProcessing" \
            else [{"Sequence": {"id": "A"}}]
        self.specials = post.get("special_tokens", {})

    def encode(self, text):
        ids = []
        for part in self.template:
            if "SpecialToken" in part:
                ids.extend(self.specials[part["SpecialToken"]["id"]]["ids"])
            else:
                ids.extend(self.byte_ids[b] for b in text.encode("utf-8"))
        return ids


# --- Kafka ------------------------------------------------------------------------------------------------------

def read_catalog(bootstrap, codec, timeout_s):
    """The adapters registered on the compacted lora.adapters: adapterId -> AdapterRecord (dict)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-catalog-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    try:
        meta = c.list_topics(ADAPTERS, timeout=timeout_s)
        if meta.topics[ADAPTERS].error is not None:
            raise Fail(f"topic {ADAPTERS}: {meta.topics[ADAPTERS].error}")
        ends = {}
        for p in meta.topics[ADAPTERS].partitions:
            low, high = c.get_watermark_offsets(TopicPartition(ADAPTERS, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(ADAPTERS, p, 0) for p in ends])
        catalog, deadline = {}, time.time() + timeout_s
        while ends and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise Fail(f"reading {ADAPTERS}: {m.error()}")
            key = m.key().decode("utf-8")
            if m.value() is None:
                catalog.pop(key, None)  # tombstone: deleted
            else:
                catalog[key] = codec.decode(m.value())
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
        if ends:
            raise Fail(f"timed out reading {ADAPTERS}")
        return catalog
    finally:
        c.close()


def delivered(err, msg):
    if err is not None:
        raise Fail(f"could not write to {msg.topic()}: {err}")


def register_adapter(producer, codec, adapter_id, owner, folder, base_model):
    folder = pathlib.Path(folder).resolve()
    weights = folder / "adapter_model.safetensors"
    try:
        rank = int(json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))["r"])
        sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    except (OSError, ValueError, KeyError) as e:
        raise Fail(f"{folder} is not a PEFT LoRA folder (adapter_config.json with r, adapter_model.safetensors): {e}")
    schema_id, schema = codec.latest(ADAPTERS + "-value")
    record = {"adapterId": adapter_id, "ownerTenant": owner, "sourceUri": folder.as_uri(), "sha256": sha,
              "rank": rank, "baseModel": base_model, "sizeBytes": weights.stat().st_size,
              "createdEpochMs": int(time.time() * 1000)}
    producer.produce(ADAPTERS, key=adapter_id.encode("utf-8"), value=codec.encode(schema_id, schema, record),
                     on_delivery=delivered)
    producer.flush(30)
    print(f"registered adapter {adapter_id} (tenant {owner}, rank {rank}) -> {folder}")


def request(tenant, adapter, prompt, tokenizer, max_tokens):
    return {
        "requestId": "py-" + uuid.uuid4().hex,
        "tenantId": tenant,
        "adapterId": adapter,
        "prompt": prompt,
        "promptTokenIds": tokenizer.encode(prompt),
        "sampling": {"temperature": 0.7, "topK": 0, "topP": 0.95, "seed": 1, "maxTokens": max_tokens,
                     "stopTokenIds": [], "stopStrings": []},
        "replyTopic": REPLIES,
        "deadlineEpochMs": 0,
        "priority": 0,
        "createdEpochMs": int(time.time() * 1000),
        "traceContext": {},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers (default %(default)s)")
    ap.add_argument("--registry", default="http://127.0.0.1:8081/apis/ccompat/v7",
                    help="Confluent-API schema registry URL (default %(default)s)")
    ap.add_argument("--tokenizer", default=str(REPO / "models/lorastream-demo/tokenizer.json"),
                    help="tokenizer.json of the served model (default %(default)s)")
    ap.add_argument("--register", default=str(REPO / "models/lorastream-demo/adapters/legal"), metavar="PEFT_DIR",
                    help="register this PEFT folder as adapter py-<name> (must be under an adapter root of the"
                         " consumer; default %(default)s); 'none' to skip")
    ap.add_argument("--requests", type=int, default=4, help="requests through catalog adapters (default %(default)s)")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--timeout", type=float, default=120, help="seconds to wait for all replies (default %(default)s)")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.max_tokens < 1 or args.timeout <= 0:
        ap.error("--requests, --max-tokens and --timeout must be positive")

    codec = Avro(args.registry)
    tokenizer = ByteTokenizer(args.tokenizer)
    req_id, req_schema = codec.latest(REQUESTS + "-value")
    print(f"schemas: {REQUESTS}-value id {req_id} ({req_schema.fullname})")
    catalog = read_catalog(args.bootstrap, codec, 30)
    if not catalog:
        raise Fail(f"no adapters registered on {ADAPTERS}: is the demo serving?")
    print(f"catalog: {len(catalog)} adapters on {ADAPTERS}")

    # Each catalog adapter is sent by a tenant allowed to use it (its owner; anyone for a public one); one request
    # runs the base model alone.
    names = sorted(catalog)
    jobs = []
    for i in range(args.requests):
        adapter = names[i % len(names)]
        jobs.append((catalog[adapter]["ownerTenant"] or "python-client", adapter, PROMPTS[i % len(PROMPTS)]))
    jobs.append(("python-client", None, "The "))

    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True})
    if args.register != "none":
        folder = pathlib.Path(args.register)
        own_id = "py-" + folder.resolve().name
        owner = "python-client"
        base_model = next(iter(catalog.values()))["baseModel"]
        register_adapter(producer, codec, own_id, owner, folder, base_model)
        jobs.append((owner, own_id, "c"))

    replies = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "py-replies-" + uuid.uuid4().hex,
                        "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                        "enable.auto.commit": False})
    replies.subscribe([REPLIES])
    pending, results = {}, {}
    retries = {}

    def send(job):
        tenant, adapter, prompt = job
        r = request(tenant, adapter, prompt, tokenizer, args.max_tokens)
        producer.produce(REQUESTS, key=r["requestId"].encode("utf-8"), value=codec.encode(req_id, req_schema, r),
                         on_delivery=delivered)
        pending[r["requestId"]] = job
        return r["requestId"]

    try:
        for job in jobs:
            send(job)
        producer.flush(30)
        print(f"sent {len(jobs)} requests to {REQUESTS}; waiting for replies on {REPLIES}")
        deadline = time.time() + args.timeout
        while pending and time.time() < deadline:
            m = replies.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise Fail(f"reading {REPLIES}: {m.error()}")
            key = m.key().decode("utf-8") if m.key() else None
            if key not in pending:
                continue  # someone else's reply
            r = codec.decode(m.value())
            job = pending.pop(key)
            # A freshly registered adapter may reach the batcher's catalog after the request does: ask again.
            if r["errorCode"] == "UNKNOWN_ADAPTER" and job[1] and job[1].startswith("py-") \
                    and retries.get(job, 0) < 5:
                retries[job] = retries.get(job, 0) + 1
                print(f"{job[1]}: not in the batcher's catalog yet; asking again")
                time.sleep(1)
                send(job)
                producer.flush(30)
                continue
            results[key] = (job, r)
    finally:
        replies.close()

    failed = 0
    print(f"{'tenant':<14} {'adapter':<14} {'prompt':<11} {'finish':<7} completion")
    for (tenant, adapter, prompt), r in results.values():
        if r["errorCode"]:
            failed += 1
            text = f"{r['errorCode']}: {r['errorMessage']}"
        else:
            text = r["text"].replace("\n", "\u23ce")
        print(f"{tenant:<14} {adapter or '(base)':<14} {prompt!r:<11} {r['finishReason']:<7} {prompt}{text}")
    for tenant, adapter, prompt in pending.values():
        failed += 1
        print(f"{tenant:<14} {adapter or '(base)':<14} {prompt!r:<11} no reply within {args.timeout:g} s")
    print(f"python client: {len(jobs)} requests, {len(results)} replies, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KafkaException as e:
        print(f"error: Kafka: {e}", file=sys.stderr)
        sys.exit(1)
