package dev.lorastream.cli.chaos;

import dev.lorastream.consumer.CatalogAdapterSource;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * What the chaos run serves: the generated tiny model (fast on a CPU), {@link #ADAPTERS} generated
 * adapters owned round-robin by four tenants, every fourth public; tenants {@code t0} and {@code
 * t2} reply on their own topic ({@code lora.replies.<tenant>}), the others on {@code lora.replies}.
 *
 * @param adapters adapter id → owner tenant (null = public)
 */
record ChaosWorkload(
    Path model, Path adapterRoot, Map<String, String> adapters, List<String> tenants, int vocab) {
  static final int ADAPTERS = 12;
  static final int BATCH_PARTITIONS = 2;

  /** Generates (once) the model and adapters under {@code work}. */
  static ChaosWorkload prepare(Path work) throws Exception {
    Path model = work.resolve("model");
    if (!Files.exists(model.resolve("config.json"))) {
      ModelGenerator.make("tiny", ModelGenerator.Options.defaults().withSeed(1), model);
    }
    Path root = work.resolve("adapters");
    if (!Files.isDirectory(root.resolve(AdapterGenerator.adapterName(ADAPTERS - 1)))) {
      AdapterGenerator.make(
          model, ADAPTERS, AdapterGenerator.Options.defaults().withRanks(4, 8, 16), root);
    }
    List<String> tenants = List.of("t0", "t1", "t2", "t3");
    Map<String, String> owner = new LinkedHashMap<>();
    for (int i = 0; i < ADAPTERS; i++) {
      owner.put(AdapterGenerator.adapterName(i), i % 4 == 3 ? null : tenants.get(i % 4));
    }
    int vocab = ModelGenerator.spec("tiny", ModelGenerator.Options.defaults()).vocab();
    return new ChaosWorkload(model, root, owner, tenants, vocab);
  }

  /** The adapters {@code tenant} may use: its own and the public ones. */
  List<String> usableBy(String tenant) {
    return adapters.entrySet().stream()
        .filter(e -> e.getValue() == null || e.getValue().equals(tenant))
        .map(Map.Entry::getKey)
        .toList();
  }

  String replyTopic(String tenant) {
    return tenant.equals("t0") || tenant.equals("t2")
        ? Topics.REPLIES.name() + "." + tenant
        : Topics.REPLIES.name();
  }

  /** Every topic a reply of this workload can be written to. */
  List<String> replyTopics() {
    return tenants.stream().map(this::replyTopic).distinct().sorted().toList();
  }

  /** Creates the declared topics and the per-tenant reply topics. */
  void createTopics(String bootstrap) throws Exception {
    createTopics(bootstrap, BATCH_PARTITIONS);
  }

  /** As {@link #createTopics(String)}, each topic not compacted with {@code partitions}. */
  void createTopics(String bootstrap, int partitions) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      List<NewTopic> topics = new ArrayList<>();
      for (Topic<?, ?> t : Topics.all()) {
        topics.add(
            new NewTopic(t.name(), t.compacted() ? 1 : partitions, (short) 1)
                .configs(t.topicConfigs()));
      }
      for (String r : replyTopics()) {
        if (!r.equals(Topics.REPLIES.name())) {
          topics.add(new NewTopic(r, 1, (short) 1));
        }
      }
      admin.createTopics(topics).all().get(60, TimeUnit.SECONDS);
    }
  }

  /** Registers every adapter on {@code lora.adapters}. */
  void publishAdapters(String bootstrap, String registry) throws Exception {
    Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry);
    try (KafkaProducer<String, AdapterRecord> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            Topics.ADAPTERS.valueSerde(serde).serializer())) {
      int i = 0;
      for (var e : adapters.entrySet()) {
        Path dir = adapterRoot.resolve(e.getKey());
        Path weights = dir.resolve("adapter_model.safetensors");
        AdapterRecord rec =
            AdapterRecord.newBuilder()
                .setAdapterId(e.getKey())
                .setOwnerTenant(e.getValue())
                .setSourceUri(dir.toUri().toString())
                .setSha256(CatalogAdapterSource.sha256(weights))
                .setRank(new int[] {4, 8, 16}[i++ % 3])
                .setBaseModel(model.getFileName().toString())
                .setSizeBytes(Files.size(weights))
                .setCreatedEpochMs(System.currentTimeMillis())
                .build();
        p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), rec.getAdapterId(), rec)).get();
      }
    }
  }
}
