package dev.lorastream.schemas.registry;

/**
 * A schema-registry call failed. Carries the HTTP status and the Confluent {@code error_code} (e.g.
 * 40401 subject not found, 40403 schema not found, 409 incompatible, 42201 invalid schema, 50001
 * store error).
 *
 * <p>Where a registry answers with no usable code (Apicurio's ccompat API sends {@code error_code:
 * 0} with 409) the code is the HTTP status. Status 0 means no HTTP answer at all (connection
 * refused, timeout).
 */
public class SchemaRegistryException extends RuntimeException {

  private final int httpStatus;
  private final int errorCode;

  public SchemaRegistryException(int httpStatus, int errorCode, String message) {
    this(httpStatus, errorCode, message, null);
  }

  public SchemaRegistryException(int httpStatus, int errorCode, String message, Throwable cause) {
    super(
        message
            + " (http "
            + httpStatus
            + ", error_code "
            + (errorCode > 0 ? errorCode : httpStatus)
            + ")",
        cause);
    this.httpStatus = httpStatus;
    this.errorCode = errorCode > 0 ? errorCode : httpStatus;
  }

  /** The HTTP status, or 0 when the registry could not be reached. */
  public int httpStatus() {
    return httpStatus;
  }

  /** The Confluent error code, or the HTTP status when the registry gave none. */
  public int errorCode() {
    return errorCode;
  }

  /** 404: the subject, version or schema id does not exist. */
  public boolean isNotFound() {
    return httpStatus == 404;
  }

  /** 409: the schema is incompatible with earlier versions of the subject. */
  public boolean isIncompatible() {
    return httpStatus == 409;
  }

  /** No answer or a 5xx: trying again later may succeed. */
  public boolean isRetriable() {
    return httpStatus == 0 || httpStatus >= 500;
  }
}
