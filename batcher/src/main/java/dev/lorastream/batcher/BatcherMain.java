package dev.lorastream.batcher;

import dev.lorastream.schemas.Tenancy;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * {@code java dev.lorastream.batcher.BatcherMain [config.properties]}: reads the config file
 * (optional), then the environment ({@link BatcherConfig#withEnv}), starts {@link BatcherApp} and
 * closes it on shutdown. When Kafka Streams fails for good ({@link BatcherApp#failure}: an {@link
 * Error} in a stream thread, or a failure repeated at one record), it closes the app and exits with
 * status 1, so that a supervisor restarts it instead of leaving a batcher that serves nothing.
 */
public final class BatcherMain {

  private BatcherMain() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    Properties file = new Properties();
    if (args.length > 0) {
      try (Reader r = Files.newBufferedReader(Path.of(args[0]))) {
        file.load(r);
      }
    }
    BatcherConfig config =
        BatcherConfig.fromProperties(BatcherConfig.withEnv(file, System.getenv()));
    BatcherApp app = BatcherApp.start(config);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  app.close();
                  stopped.countDown();
                },
                "batcher-shutdown"));
    app.failure()
        .thenAccept(
            reason -> {
              System.err.println("batcher stopping with exit status 1: " + reason);
              stopped.countDown();
            });
    System.err.println(
        "batcher started; tenancy "
            + config.tenancy().configValue()
            + (config.tenancy() == Tenancy.TOPICS
                ? " (requests from lora.tenant.<t>.requests, tenant bound to the topic)"
                : " (requests from lora.requests, tenantId trusted: no authentication)")
            + "; metrics on port "
            + app.metricsPort());
    stopped.await();
    if (app.failure().isDone()) {
      app.close();
      System.exit(1);
    }
  }
}
