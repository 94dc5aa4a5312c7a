package io.pgmigrate.pacemaker;

import io.pgmigrate.Endpoint;
import io.pgmigrate.LeftBehind;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationBuilder;
import io.pgmigrate.SchemaStrategy;
import io.pgmigrate.StateStore;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * A migration described by a properties file, for the {@code pgmigrate} OCF resource agent and its Java entry point
 * ({@link AgentMain}). Passwords are never in the file: give a libpq passfile ({@code source.passfile}).
 *
 * <pre>
 * name=shop
 * databases=shop,crm
 * source.url=jdbc:postgresql://10.0.0.11:5432/
 * source.user=pgmigrate
 * source.passfile=/etc/pgmigrate/pgpass
 * target.url=jdbc:postgresql://10.0.0.21:5432/
 * target.user=pgmigrate
 * target.passfile=/etc/pgmigrate/pgpass
 * # cib (default: the cluster configuration, readable on every node) or a directory every node mounts
 * state=cib
 * # optional: the VIP the cutover moves
 * vip.resource=pg-vip
 * vip.source.node=old-db-1
 * vip.target.node=new-db-1
 * # optional
 * trigger.attribute=pgmigrate-cutover
 * schema.strategy=CATALOG
 * </pre>
 */
public record AgentConfig(Properties properties, Path file) {

    private static final Set<String> KNOWN = Set.of("name", "databases", "source.url", "source.user",
            "source.passfile", "target.url", "target.user", "target.passfile", "source.as_seen_by_target",
            "target.as_seen_by_source", "state", "vip.resource", "vip.source.node", "vip.target.node",
            "vip.source.resource", "vip.target.resource", "vip.timeout_seconds", "trigger.attribute",
            "schema.strategy", "cutover.timeout_seconds", "cutover.catch_up_timeout_seconds",
            "cutover.accept_left_behind");

    /** Reads and checks {@code file}: unknown keys, missing required ones and passwords are errors. */
    public static AgentConfig read(Path file) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        Set<String> unknown = new TreeSet<>(p.stringPropertyNames());
        unknown.removeAll(KNOWN);
        if (unknown.stream().anyMatch(k -> k.contains("password"))) {
            throw new IllegalArgumentException(file + ": passwords do not belong in the configuration; give a libpq"
                    + " passfile as source.passfile / target.passfile (mode 0600)");
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(file + ": unknown setting(s) " + unknown + "; known: "
                    + new TreeSet<>(KNOWN));
        }
        for (String required : List.of("source.url", "target.url")) {
            if (p.getProperty(required, "").isBlank()) {
                throw new IllegalArgumentException(file + ": " + required + " is required");
            }
        }
        return new AgentConfig(p, file);
    }

    public String name() {
        return get("name").orElse("migration");
    }

    public String triggerAttribute() {
        return get("trigger.attribute").orElse("pgmigrate-cutover");
    }

    private Optional<String> get(String key) {
        String v = properties.getProperty(key);
        return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
    }

    /** {@code cutover.accept_left_behind}: comma-separated {@link LeftBehind} names, in any case. */
    private LeftBehind[] leftBehind(String value) {
        return Arrays.stream(value.split(",")).map(String::strip).filter(v -> !v.isEmpty()).map(v -> {
            try {
                return LeftBehind.valueOf(v.toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": cutover.accept_left_behind: unknown kind " + v + "; known: "
                        + Arrays.toString(LeftBehind.values()), e);
            }
        }).toArray(LeftBehind[]::new);
    }

    private Endpoint endpoint(String side) {
        Endpoint e = Endpoint.of(get(side + ".url").orElseThrow());
        if (get(side + ".user").isPresent()) {
            e = e.user(get(side + ".user").get());
        }
        if (get(side + ".passfile").isPresent()) {
            e = e.passfile(Path.of(get(side + ".passfile").get()));
        }
        return e;
    }

    /** The migration this file describes; cluster commands run through {@code runner}. */
    public Migration migration(CommandRunner runner) {
        MigrationBuilder b = Migration.builder().name(name()).source(endpoint("source")).target(endpoint("target"));
        get("databases").ifPresent(d -> b.databases(Arrays.stream(d.split(",")).map(String::strip).toList()));
        get("source.as_seen_by_target").ifPresent(u -> b.sourceAsSeenByTarget(Endpoint.of(u)));
        get("target.as_seen_by_source").ifPresent(u -> b.targetAsSeenBySource(Endpoint.of(u)));
        String state = get("state").orElse("cib");
        StateStore store = state.equals("cib") ? new CibStateStore(runner) : StateStore.directory(Path.of(state));
        b.stateStore(store);
        get("schema.strategy").ifPresent(s -> b.schemaStrategy(SchemaStrategy.valueOf(s.toUpperCase())));
        get("cutover.timeout_seconds").ifPresent(s -> b.cutoverTimeout(Duration.ofSeconds(Long.parseLong(s))));
        get("cutover.catch_up_timeout_seconds").ifPresent(s -> b.cutoverCatchUpTimeout(
                Duration.ofSeconds(Long.parseLong(s))));
        get("cutover.accept_left_behind").ifPresent(s -> b.acceptLeftBehind(leftBehind(s)));
        if (get("vip.resource").isPresent()) {
            PacemakerVip.Builder vip = PacemakerVip.builder(get("vip.resource").get()).runner(runner);
            vip.source(placement("vip.source"));
            vip.target(placement("vip.target"));
            get("vip.timeout_seconds").ifPresent(s -> vip.startTimeout(Duration.ofSeconds(Long.parseLong(s))));
            b.trafficSwitch(vip.build());
        }
        return b.build();
    }

    private PacemakerVip.Placement placement(String prefix) {
        Optional<String> node = get(prefix + ".node");
        Optional<String> resource = get(prefix + ".resource");
        if (node.isPresent() == resource.isPresent()) {
            throw new IllegalArgumentException(file + ": set exactly one of " + prefix + ".node and " + prefix
                    + ".resource");
        }
        return node.map(PacemakerVip.Placement::node).orElseGet(() -> PacemakerVip.Placement.resource(resource.get()));
    }
}
