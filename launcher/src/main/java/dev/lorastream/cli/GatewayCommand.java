package dev.lorastream.cli;

import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream gateway}: the OpenAI-compatible HTTP gateway as a service. Settings from {@code
 * -Dlorastream.*} or {@code LORASTREAM_*} ({@link GatewayConfig}); the options here override them.
 * Serves until SIGINT or SIGTERM.
 */
@Command(
    name = "gateway",
    mixinStandardHelpOptions = true,
    description = {
      "Run the OpenAI-compatible HTTP gateway (POST /v1/completions, POST /v1/chat/completions,"
          + " GET /v1/models) over Kafka.",
      "Settings: LORASTREAM_KAFKA_BOOTSTRAP_SERVERS, LORASTREAM_SCHEMA_REGISTRY_URL,"
          + " LORASTREAM_MODEL_DIR, LORASTREAM_GATEWAY_* (docs/gateway.md); the options override"
          + " them."
    })
final class GatewayCommand implements Callable<Integer> {
  @Option(names = "--host", description = "address to bind (default 0.0.0.0)")
  String host;

  @Option(names = "--port", description = "port to bind (default 8000; 0 = a free one)")
  Integer port;

  @Option(
      names = "--keys",
      description = "API key file: TENANT=sha256:HEX[,sha256:HEX...] per line")
  Path keys;

  @Option(names = "--bootstrap-servers", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--schema-registry-url", description = "schema registry URL")
  String registry;

  @Option(names = "--model", description = "the base model's folder (for its tokenizer)")
  Path model;

  @Override
  public Integer call() throws Exception {
    Map<String, String> props = GatewayConfig.fromEnvironment();
    put(props, GatewayConfig.HOST, host);
    put(props, GatewayConfig.PORT, port);
    put(props, GatewayConfig.KEYS_FILE, keys);
    put(props, GatewayConfig.BOOTSTRAP, bootstrap);
    put(props, GatewayConfig.REGISTRY, registry);
    put(props, GatewayConfig.MODEL, model);
    GatewayConfig config = GatewayConfig.from(props);
    CountDownLatch stop = new CountDownLatch(1);
    CountDownLatch closed = new CountDownLatch(1);
    Thread hook =
        new Thread(
            () -> {
              stop.countDown();
              try {
                closed.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "gateway-shutdown");
    try (Gateway gateway = Gateway.start(config)) {
      Runtime.getRuntime().addShutdownHook(hook);
      System.err.println(
          "gateway: serving "
              + gateway.url()
              + "/v1 for "
              + config.keys().size()
              + " API keys; Kafka "
              + config.bootstrapServers()
              + ", model "
              + config.modelDir());
      stop.await();
    } finally {
      closed.countDown();
    }
    return 0;
  }

  private static void put(Map<String, String> props, String key, Object value) {
    if (value != null) {
      props.put(key, value.toString());
    }
  }
}
