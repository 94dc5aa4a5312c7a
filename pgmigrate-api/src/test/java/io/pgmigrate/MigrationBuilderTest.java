package io.pgmigrate;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MigrationBuilderTest {

    private static final Endpoint OLD = Endpoint.of("jdbc:postgresql://old:5432/shop");
    private static final Endpoint NEW = Endpoint.of("jdbc:postgresql://new:5432/");

    @Test
    void buildWithoutSourceNamesTheMissingProperty() {
        assertThatThrownBy(() -> Migration.builder().target(NEW).databases("shop").build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("source is required");
    }

    @Test
    void buildWithoutTargetNamesTheMissingProperty() {
        assertThatThrownBy(() -> Migration.builder().source(OLD).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("target is required");
    }

    @Test
    void sameServerForSourceAndTargetIsRejectedWithTheAddress() {
        assertThatThrownBy(() -> Migration.builder().source("jdbc:postgresql://localhost:5432/a")
                .target("jdbc:postgresql://127.0.0.1:5432/").build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("same server").hasMessageContaining("5432");
    }

    @Test
    void emptyDatabaseListIsRejected() {
        assertThatThrownBy(() -> Migration.builder().databases())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("databases");
    }

    @Test
    void duplicateDatabasesAreRejectedNamingTheDuplicate() {
        assertThatThrownBy(() -> Migration.builder().databases("shop", "crm", "shop"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'shop' twice");
    }

    @Test
    void databaseNameOverSixtyThreeBytesIsRejected() {
        String name = "é".repeat(32); // 64 bytes in UTF-8
        assertThatThrownBy(() -> Migration.builder().databases(name))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("64 bytes");
    }

    @Test
    void invalidMigrationNameIsRejectedWithThePattern() {
        assertThatThrownBy(() -> Migration.builder().name("Shop-Move"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[a-z][a-z0-9_]").hasMessageContaining("'Shop-Move'");
    }

    @Test
    void settingAPropertyTwiceIsAnIllegalState() {
        assertThatThrownBy(() -> Migration.builder().source(OLD).source(OLD))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("source was already set");
    }

    @Test
    void noDatabaseInUrlAndNoneConfiguredIsRejected() {
        assertThatThrownBy(() -> Migration.builder().source("jdbc:postgresql://old:5432/").target(NEW).build())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("databases is not set");
    }

    @Test
    void nonPositiveDurationsAreRejected() {
        assertThatThrownBy(() -> Migration.builder().connectTimeout(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("connectTimeout");
    }

    @Test
    void cutoverSettingsRejectBadValuesNamingTheProperty() {
        assertThatThrownBy(() -> Migration.builder().cutoverTimeout(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cutoverTimeout");
        assertThatThrownBy(() -> Migration.builder().cutoverMaxLagBytes(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cutoverMaxLagBytes");
        assertThatThrownBy(() -> Migration.builder().cutoverCatchUpTimeout(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cutoverCatchUpTimeout");
        assertThatThrownBy(() -> Migration.builder().cutoverCatchUpTimeout(Duration.ofMinutes(1))
                .cutoverCatchUpTimeout(Duration.ofMinutes(2)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("cutoverCatchUpTimeout");
        assertThatThrownBy(() -> Migration.builder().fenceDrainTimeout(Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("fenceDrainTimeout");
        assertThatThrownBy(() -> Migration.builder().sequenceMargin(-5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sequenceMargin");
        assertThatThrownBy(() -> Migration.builder().targetAsSeenBySource(null))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("targetAsSeenBySource");
        assertThatThrownBy(() -> Migration.builder().sequenceMargin(1).sequenceMargin(2))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("sequenceMargin");
    }

    @Test
    void aZeroDrainTimeoutIsAllowed() {
        Migration.builder().fenceDrainTimeout(Duration.ZERO); // terminate in-flight transactions at once
    }

    @Test
    void missingCoreFailsWithOneClearSentence() {
        // pgmigrate-api's own tests run without pgmigrate-core on the class path.
        assertThatThrownBy(() -> Migration.builder().source(OLD).target(NEW).build())
                .isInstanceOf(PgMigrateException.class)
                .hasMessageContaining("add the dependency io.pgmigrate:pgmigrate-core")
                .extracting(e -> ((PgMigrateException) e).code()).isEqualTo(CoreErrorCode.IMPLEMENTATION_MISSING);
    }

    /**
     * Issue 13: every setter refuses a null argument with {@link NullPointerException} naming the setting (the JDK's
     * and Caffeine's convention), never with a mix of exceptions.
     */
    @Test
    void everySetterRefusesNullWithANullPointerExceptionNamingIt() throws Exception {
        int checked = 0;
        for (java.lang.reflect.Method method : MigrationBuilder.class.getMethods()) {
            if (method.getDeclaringClass() != MigrationBuilder.class || method.getParameterCount() != 1
                    || method.getParameterTypes()[0].isPrimitive()) {
                continue;
            }
            checked++;
            java.lang.reflect.Method setter = method;
            assertThatThrownBy(() -> {
                try {
                    setter.invoke(Migration.builder(), new Object[]{null});
                } catch (java.lang.reflect.InvocationTargetException e) {
                    throw e.getCause();
                }
            }).as(setter.toString()).isInstanceOf(NullPointerException.class).hasMessageContaining(
                    setter.getName().equals("stateDirectory") ? "stateDirectory"
                            : setter.getName().equals("source") || setter.getName().equals("target")
                            ? (setter.getParameterTypes()[0] == String.class ? "jdbcUrl" : setter.getName())
                            : setter.getName());
        }
        assertThat(checked).as("setters with a reference argument").isGreaterThan(20);
        assertThatThrownBy(() -> Migration.builder().databases(Arrays.asList("shop", null)))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("null name");
        assertThatThrownBy(() -> Endpoint.of(null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("jdbcUrl");
        assertThatThrownBy(() -> Endpoint.of("jdbc:postgresql://db:5432/").user(null))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("user");
    }
}
