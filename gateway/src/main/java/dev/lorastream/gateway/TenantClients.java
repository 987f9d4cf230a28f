package dev.lorastream.gateway;

import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.Tenants;
import io.opentelemetry.api.OpenTelemetry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The gateway's {@link LoraClient}s. Shared tenancy: one, on {@code lora.requests} and {@code
 * lora.replies}, for every tenant. Topics tenancy: one per tenant with an API key, on that tenant's
 * {@code lora.tenant.<t>.*} topics ({@link LoraClientConfig#forTenant}), all logged in as the
 * gateway's one trusted principal (its {@code lorastream.kafka.*} login), which may write every
 * tenant's request and cancel topics and read every tenant's replies and chunks ({@code tenant
 * services --gateway}); a request goes only to the topics of the tenant its key proved. All are
 * made at start, so a tenant without topics stops the gateway there with its name.
 */
final class TenantClients implements AutoCloseable {
  private final LoraClient shared;
  private final Map<String, LoraClient> byTenant = new LinkedHashMap<>();

  TenantClients(
      LoraClientConfig base,
      PromptTokenizer tokenizer,
      OpenTelemetry openTelemetry,
      boolean topics,
      Set<String> tenants) {
    if (!topics) {
      shared = new LoraClient(base, tokenizer, null, openTelemetry);
      return;
    }
    shared = null;
    try {
      for (String t : tenants) {
        if (!Tenants.isName(t)) {
          throw new IllegalArgumentException(
              "the key file has tenant '"
                  + t
                  + "', which is no tenant name of topics tenancy ("
                  + Tenants.NAME.pattern()
                  + ")");
        }
        try {
          byTenant.put(
              t,
              new LoraClient(
                  base.forTenant(t).withClientId(base.clientId() + "-" + t),
                  tokenizer,
                  null,
                  openTelemetry));
        } catch (RuntimeException e) {
          throw new IllegalStateException(
              "cannot serve tenant '"
                  + t
                  + "' on its topics ("
                  + e.getMessage()
                  + "): create them with ./lorastream tenant add "
                  + t
                  + ", and give the gateway's principal their ACLs (tenant services --gateway)",
              e);
        }
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /** The client that sends {@code tenant}'s requests. */
  LoraClient of(String tenant) {
    if (shared != null) {
      return shared;
    }
    LoraClient c = byTenant.get(tenant);
    if (c == null) { // keys are read at start, and each key's tenant has a client
      throw new IllegalStateException("no client for tenant '" + tenant + "'");
    }
    return c;
  }

  @Override
  public void close() {
    if (shared != null) {
      shared.close();
    }
    for (LoraClient c : byTenant.values()) {
      try {
        c.close();
      } catch (RuntimeException e) {
        System.err.println("gateway: closing a client: " + e);
      }
    }
  }
}
