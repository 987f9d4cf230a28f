package dev.lorastream.cli;

import dev.lorastream.devstack.TestKafkaCluster;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole pipeline on a real in-process broker (Kafka's own test kit). */
class PipelineIntegrationTest {
  @TempDir Path tmp;

  @Test
  void requestsAreAnsweredAndBadInputGetsErrorRepliesOrTheDlqWhileServingGoesOn() throws Exception {
    try (TestKafkaCluster cluster = TestKafkaCluster.start()) {
      PipelineScenario.run(cluster.bootstrapServers(), tmp);
    }
  }
}
