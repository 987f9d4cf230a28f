package dev.lorastream.devstack;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * {@code java dev.lorastream.devstack.BrokerMain DATA_DIR PORT CONTROLLER_PORT}: the embedded
 * single-node KRaft broker as a process of its own, so that it can be killed and restarted (same
 * ports, same data folder, which is kept) by {@code ./lorastream chaos}. Prints {@code serving:
 * bootstrap=localhost:PORT} on stdout once started; stops on SIGTERM.
 */
public final class BrokerMain {
  private BrokerMain() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 3) {
      System.err.println("usage: BrokerMain DATA_DIR PORT CONTROLLER_PORT");
      System.exit(2);
    }
    EmbeddedKafka kafka =
        EmbeddedKafka.start(
            Path.of(args[0]), Integer.parseInt(args[1]), Integer.parseInt(args[2]), false);
    CountDownLatch closed = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  kafka.close();
                  closed.countDown();
                },
                "broker-shutdown"));
    System.out.println(
        "serving: bootstrap="
            + kafka.bootstrapServers()
            + " (JVM up "
            + java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime()
            + " ms)");
    System.out.flush();
    closed.await();
  }
}
