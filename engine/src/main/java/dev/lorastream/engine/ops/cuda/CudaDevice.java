package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cuda.CudaException.check;

import java.nio.charset.StandardCharsets;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * The process's CUDA device, probed once: JCuda's natives load, {@code cuInit}, at least one
 * device, compute capability ≥ 8.0, the primary context, every PTX module and symbol. The answer (a
 * device, or the reason there is none) is remembered: without a GPU the first JCuda call throws
 * {@link UnsatisfiedLinkError} and later ones {@link NoClassDefFoundError}, so the {@link
 * LinkageError} is caught exactly once, here.
 *
 * <p>Device index from {@code lorastream.cuda.device} (default 0). Thread-safe; {@link #bind} makes
 * the context current on the calling thread (the engine thread is not the one that probed).
 */
final class CudaDevice {
  /** The probe's outcome: a device, or why not. */
  record Probe(CudaDevice device, String reason) {
    boolean available() {
      return device != null;
    }
  }

  private static Probe probe;

  final int index;
  final String name;
  final int ccMajor;
  final int ccMinor;
  final int driverVersion;
  final CUcontext context;
  final CudaKernels kernels;
  private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);

  private CudaDevice(
      int index,
      String name,
      int ccMajor,
      int ccMinor,
      int driverVersion,
      CUcontext ctx,
      CudaKernels k) {
    this.index = index;
    this.name = name;
    this.ccMajor = ccMajor;
    this.ccMinor = ccMinor;
    this.driverVersion = driverVersion;
    this.context = ctx;
    this.kernels = k;
  }

  /** The remembered probe (runs it on the first call). */
  static synchronized Probe probe() {
    if (probe == null) {
      probe = runProbe(Integer.getInteger("lorastream.cuda.device", 0));
    }
    return probe;
  }

  private static Probe runProbe(int index) {
    try {
      JCudaDriver.setExceptionsEnabled(false);
      int rc = JCudaDriver.cuInit(0);
      if (rc != 0) {
        return new Probe(null, "cuInit: " + CudaException.errorName(rc));
      }
      int[] count = new int[1];
      check("cuDeviceGetCount", JCudaDriver.cuDeviceGetCount(count));
      if (count[0] == 0) {
        return new Probe(null, "no CUDA device");
      }
      if (index < 0 || index >= count[0]) {
        return new Probe(
            null, "lorastream.cuda.device=" + index + " but " + count[0] + " device(s)");
      }
      CUdevice dev = new CUdevice();
      check("cuDeviceGet(" + index + ")", JCudaDriver.cuDeviceGet(dev, index));
      int major = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
      int minor = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
      String name = deviceName(dev);
      if (major < 8) {
        return new Probe(
            null,
            name + " has compute capability " + major + "." + minor + ", the kernels need >= 8.0");
      }
      int[] driver = new int[1];
      check("cuDriverGetVersion", JCudaDriver.cuDriverGetVersion(driver));
      CUcontext ctx = new CUcontext();
      check("cuDevicePrimaryCtxRetain", JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev));
      check("cuCtxSetCurrent", JCudaDriver.cuCtxSetCurrent(ctx));
      CudaKernels kernels = CudaKernels.load();
      return new Probe(new CudaDevice(index, name, major, minor, driver[0], ctx, kernels), null);
    } catch (LinkageError e) {
      return new Probe(
          null,
          "JCuda driver library not loadable ("
              + e.getClass().getSimpleName()
              + ": "
              + firstLine(e.getMessage())
              + ")");
    } catch (RuntimeException e) {
      return new Probe(null, firstLine(e.getMessage()));
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "no message";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  private static int attribute(CUdevice dev, int attr) {
    int[] v = new int[1];
    check("cuDeviceGetAttribute(" + attr + ")", JCudaDriver.cuDeviceGetAttribute(v, attr, dev));
    return v[0];
  }

  private static String deviceName(CUdevice dev) {
    byte[] buf = new byte[256];
    check("cuDeviceGetName", JCudaDriver.cuDeviceGetName(buf, buf.length, dev));
    int n = 0;
    while (n < buf.length && buf[n] != 0) {
      n++;
    }
    return new String(buf, 0, n, StandardCharsets.US_ASCII);
  }

  /** Makes the context current on this thread (once per thread). */
  void bind() {
    if (!bound.get()) {
      check("cuCtxSetCurrent", JCudaDriver.cuCtxSetCurrent(context));
      bound.set(true);
    }
  }

  /** {@code "NVIDIA H200, cc 9.0, driver 13000"}. */
  String describe() {
    return name + ", cc " + ccMajor + "." + ccMinor + ", driver " + driverVersion;
  }
}
