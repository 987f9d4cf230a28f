package dev.lorastream.ingest;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Closes {@link KafkaTestCluster}'s shared broker when the JUnit launcher session ends (after the
 * last test, before surefire's fork exits), registered in {@code
 * META-INF/services/org.junit.platform.launcher.LauncherSessionListener}.
 */
public final class SharedBrokerSession implements LauncherSessionListener {
  @Override
  public void launcherSessionClosed(LauncherSession session) {
    try {
      KafkaTestCluster.close();
    } catch (Exception e) {
      // every test has run; a fault the test kit recorded is already in their results
      System.err.println("the shared test broker did not close cleanly: " + e);
    }
  }
}
