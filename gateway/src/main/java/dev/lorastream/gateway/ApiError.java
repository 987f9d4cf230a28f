package dev.lorastream.gateway;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request the gateway refuses, answered in OpenAI's error shape {@code {"error": {"message",
 * "type", "param", "code"}}} with {@link #status}. The message says what was wrong and what to do.
 */
final class ApiError extends RuntimeException {
  static final String INVALID_REQUEST = "invalid_request_error";
  static final String AUTHENTICATION = "authentication_error";
  static final String PERMISSION = "permission_error";
  static final String NOT_FOUND = "not_found_error";
  static final String SERVER = "server_error";
  static final String TIMEOUT = "timeout_error";
  static final String RATE_LIMIT = "rate_limit_error";

  final int status;
  final String type;
  final String param;
  final String code;

  ApiError(int status, String type, String param, String code, String message) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }

  /** 400 about one request field. */
  static ApiError badParam(String param, String message) {
    return new ApiError(400, INVALID_REQUEST, param, "invalid_value", message);
  }

  /** 400: an OpenAI option this server does not implement and that would change the result. */
  static ApiError unsupported(String param, String what) {
    return new ApiError(
        400,
        INVALID_REQUEST,
        param,
        "unsupported_parameter",
        "'"
            + param
            + "' is not supported by this server ("
            + what
            + "); remove it from the request");
  }

  /** The error object, {@code {"error": {...}}}. */
  ObjectNode body() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", getMessage());
    e.put("type", type);
    e.put("param", param);
    e.put("code", code);
    return root;
  }
}
