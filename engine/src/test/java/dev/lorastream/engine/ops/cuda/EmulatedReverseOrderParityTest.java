package dev.lorastream.engine.ops.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * {@link EmulatedOpsParityTest} with every block's threads run in reverse order between barriers: a
 * kernel that reads shared memory another thread writes without a barrier in between gets a
 * different value in one of the two orders, so both passing is evidence that the barriers are where
 * they must be.
 */
class EmulatedReverseOrderParityTest extends EmulatedOpsParityTest {
  @BeforeEach
  void reverse() {
    if (KernelEmulator.unavailableReason() == null) {
      KernelEmulator.reverseThreadOrder(true);
    }
  }

  @AfterEach
  void forward() {
    if (KernelEmulator.unavailableReason() == null) {
      KernelEmulator.reverseThreadOrder(false);
    }
  }
}
