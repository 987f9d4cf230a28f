package dev.lorastream.cli;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;

/**
 * The same pipeline against the apache/kafka image, where a Docker engine exists (skipped
 * otherwise).
 */
@Testcontainers(disabledWithoutDocker = true)
class PipelineContainerTest {
  @Container static final KafkaContainer KAFKA = new KafkaContainer("apache/kafka:4.1.1");

  @TempDir Path tmp;

  @Test
  void requestsAreAnsweredAndBadInputGetsErrorRepliesOrTheDlqOnTheApacheKafkaImage()
      throws Exception {
    PipelineScenario.run(KAFKA.getBootstrapServers(), tmp);
  }
}
