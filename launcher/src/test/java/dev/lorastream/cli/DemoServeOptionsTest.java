package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** The options of {@code demo --serve} that fail before anything starts. */
class DemoServeOptionsTest {

  @Test
  void aTakenBrokerPortFailsNamingThePortAndTheOption() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getByName("localhost"), 0));
      DemoCommand demo = new DemoCommand();
      demo.serve = true;
      demo.brokerPort = taken.getLocalPort();
      IllegalStateException e = assertThrows(IllegalStateException.class, demo::call);
      assertTrue(
          e.getMessage().contains("port " + taken.getLocalPort() + " on localhost is taken"),
          e.getMessage());
      assertTrue(e.getMessage().contains("--port"), e.getMessage());
    }
  }

  @Test
  void aTakenRegistryPortFailsNamingTheOption() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () ->
                  DemoCommand.checkPortFree("--registry-port", "127.0.0.1", taken.getLocalPort()));
      assertTrue(e.getMessage().contains("--registry-port"), e.getMessage());
    }
  }

  @Test
  void aPortOutOfRangeIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> DemoCommand.checkPortFree("--port", "localhost", 70000));
    assertTrue(e.getMessage().contains("out of range"), e.getMessage());
  }

  @Test
  void aRegistryPortWithoutServeIsRefused() {
    DemoCommand demo = new DemoCommand();
    demo.registryPort = 18081;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, demo::call);
    assertTrue(e.getMessage().contains("--registry-port needs --serve"), e.getMessage());
  }

  @Test
  void aGatewayPortWithoutServeIsRefused() {
    DemoCommand demo = new DemoCommand();
    demo.gatewayPort = 18000;
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, demo::call);
    assertTrue(e.getMessage().contains("--gateway-port needs --serve"), e.getMessage());
  }

  @Test
  void aTakenGatewayPortFailsNamingTheOption() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
      DemoCommand demo = new DemoCommand();
      demo.serve = true;
      demo.brokerPort = 0;
      demo.registryPort = 0;
      demo.gatewayPort = taken.getLocalPort();
      IllegalStateException e = assertThrows(IllegalStateException.class, demo::call);
      assertTrue(e.getMessage().contains("--gateway-port"), e.getMessage());
    }
  }
}
