package dev.lorastream.batcher;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * {@code java dev.lorastream.batcher.BatcherMain [config.properties]}: reads the config file
 * (optional), then the environment ({@link BatcherConfig#withEnv}), starts {@link BatcherApp} and
 * closes it on shutdown.
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
    System.err.println("batcher started; metrics on port " + app.metricsPort());
    stopped.await();
  }
}
