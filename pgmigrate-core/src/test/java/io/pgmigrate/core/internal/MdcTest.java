package io.pgmigrate.core.internal;

import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.StateStore;
import io.pgmigrate.core.internal.state.ObservedStateStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.MDC;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13: a migration's calls run with its name in the MDC ({@code pgmigrate.migration}), so every log line they
 * write carries it; the caller's own MDC entries stay, and a value set before the call is back after it.
 */
class MdcTest {

    @Test
    void aCallRunsWithTheMigrationsNameAndLeavesTheCallersMdcAsItWas(@TempDir Path state) {
        StateStore directory = StateStore.directory(state);
        List<String> seenInsideTheCall = new CopyOnWriteArrayList<>();
        // The state store is the caller's code that every call reaches: it sees the MDC the call runs with.
        StateStore watching = ObservedStateStore.watchingLoads(directory,
                key -> seenInsideTheCall.add(MDC.get(Mdc.MIGRATION) + "/" + MDC.get("request")));
        MDC.put("request", "r-17");
        try (Migration m = Migration.builder().name("billing")
                .source(Endpoint.of("jdbc:postgresql://127.0.0.1:1/"))
                .target(Endpoint.of("jdbc:postgresql://127.0.0.1:2/"))
                .databases("app").stateStore(watching).build()) {
            seenInsideTheCall.clear(); // building reads the journal too, outside any call
            m.status();
            assertThat(seenInsideTheCall).isNotEmpty().containsOnly("billing/r-17");
            assertThat(MDC.get(Mdc.MIGRATION)).isNull();
            assertThat(MDC.get("request")).isEqualTo("r-17");

            try (Mdc.Scope outer = Mdc.put(Mdc.MIGRATION, "outer")) {
                m.status();
                assertThat(MDC.get(Mdc.MIGRATION)).as("a call restores the value set before it").isEqualTo("outer");
            }
        } finally {
            MDC.remove("request");
        }
    }
}
