package io.pgmigrate.pacemaker;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationBuilder;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * A migration described by a properties file: the command line's format ({@code docs/cli.md}: each key a
 * {@code MigrationBuilder} method), plus the keys under {@code pacemaker.} that this module owns. The same file serves
 * the {@code pgmigrate} OCF resource agent ({@code pgmigrate agent run}) and an operator's {@code pgmigrate status},
 * {@code cutover}, {@code rollback}: with this module on the class path, those keep the state in the cluster and move
 * the VIP too. Passwords are never in an agent's file: give a libpq passfile ({@code source.passfile}).
 *
 * <pre>
 * name=shop
 * databases=shop,crm
 * source=jdbc:postgresql://10.0.0.11:5432/
 * source.user=pgmigrate
 * source.passfile=/etc/pgmigrate/pgpass
 * target=jdbc:postgresql://10.0.0.21:5432/
 * target.user=pgmigrate
 * target.passfile=/etc/pgmigrate/pgpass
 * # where every node reads the journal: the cluster configuration, or stateDirectory=/shared/dir
 * pacemaker.state=cib
 * # optional: the VIP the cutover moves
 * pacemaker.vip=pg-vip
 * pacemaker.vip.source.node=old-db-1
 * pacemaker.vip.target.node=new-db-1
 * # optional
 * pacemaker.vip.timeout=30s
 * pacemaker.trigger=pgmigrate-cutover
 * schemaStrategy=CATALOG
 * </pre>
 *
 * @param settings the file's settings by key
 * @param file     the file, for messages
 */
public record AgentConfig(Map<String, String> settings, Path file) {

    /** The prefix of the keys this module owns. */
    public static final String PREFIX = "pacemaker.";

    private static final Set<String> ENDPOINTS = Set.of("source", "target", "sourceAsSeenByTarget",
            "targetAsSeenBySource");
    private static final Set<String> KNOWN = Set.of("pacemaker.state", "pacemaker.vip", "pacemaker.vip.source.node",
            "pacemaker.vip.target.node", "pacemaker.vip.source.resource", "pacemaker.vip.target.resource",
            "pacemaker.vip.timeout", "pacemaker.trigger");

    /**
     * Reads and checks {@code file}: unknown {@code pacemaker.} keys, missing endpoints and passwords are errors; the
     * other keys are checked when the migration is built.
     *
     * @param file the properties file
     * @return the configuration
     */
    public static AgentConfig read(Path file) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        Map<String, String> settings = new LinkedHashMap<>();
        p.stringPropertyNames().stream().sorted().forEach(k -> settings.put(k, p.getProperty(k)));
        return of(settings, file);
    }

    /**
     * Checks {@code settings} as {@link #read(Path)} does: the file's, with any overrides applied.
     *
     * @param settings the settings by key
     * @param file     the file they came from, for messages
     * @return the configuration
     */
    public static AgentConfig of(Map<String, String> settings, Path file) {
        // A password anywhere (a key, a URL's query or user:password@, a driver property such as sslpassword) would
        // be read by every node and shown in the cluster's logs.
        boolean password = settings.entrySet().stream().anyMatch(e -> e.getKey().toLowerCase(java.util.Locale.ROOT)
                .contains("password") || (ENDPOINTS.contains(e.getKey()) && e.getValue() != null
                && (e.getValue().toLowerCase(java.util.Locale.ROOT).matches(".*[?&]password=.*")
                || e.getValue().matches(".*//[^/@?#]*:[^/@?#]*@.*"))));
        if (password) {
            throw new IllegalArgumentException(file + ": passwords do not belong in the agent's configuration (the"
                    + " cluster's nodes and logs see it); give a libpq passfile as source.passfile / target.passfile"
                    + " (mode 0600)");
        }
        for (String required : List.of("source", "target")) {
            if (settings.getOrDefault(required, "").isBlank()) {
                throw new IllegalArgumentException(file + ": " + required + " is required (a JDBC URL such as"
                        + " jdbc:postgresql://10.0.0.11:5432/)");
            }
        }
        if (get(settings, "stateDirectory").isEmpty() && !"cib".equals(get(settings, "pacemaker.state").orElse(""))) {
            throw new IllegalArgumentException(file + ": the agent keeps its journal where every node reads it: set"
                    + " pacemaker.state=cib (the cluster configuration) or stateDirectory to a directory every node"
                    + " mounts");
        }
        check(settings, file.toString());
        return new AgentConfig(Map.copyOf(settings), file);
    }

    private static void check(Map<String, String> settings, String where) {
        Set<String> unknown = new TreeSet<>();
        settings.keySet().stream().filter(k -> k.startsWith(PREFIX) && !KNOWN.contains(k)).forEach(unknown::add);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(where + ": unknown setting(s) " + unknown + "; the pacemaker. settings"
                    + " are " + new TreeSet<>(KNOWN));
        }
    }

    /**
     * The migration's name, as the file gives it.
     *
     * @return the name
     */
    public String name() {
        return get(settings, "name").orElse("migration");
    }

    /**
     * The cluster attribute that asks for a cutover.
     *
     * @return its name
     */
    public String triggerAttribute() {
        return get(settings, "pacemaker.trigger").orElse("pgmigrate-cutover");
    }

    private static Optional<String> get(Map<String, String> settings, String key) {
        String v = settings.get(key);
        return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
    }

    /**
     * The migration this file describes; cluster commands run through {@code runner}.
     *
     * @param runner runs the cluster's tools
     * @return the migration, built
     */
    public Migration migration(CommandRunner runner) {
        Map<String, String> builderKeys = new LinkedHashMap<>(settings);
        builderKeys.keySet().removeIf(k -> k.startsWith(PREFIX));
        MigrationBuilder b;
        try {
            b = Migration.builder().configure(builderKeys);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
        apply(settings, b, runner, file.toString());
        return b.build();
    }

    /**
     * Applies the {@code pacemaker.} keys: the state in the cluster ({@code pacemaker.state=cib}), the VIP.
     *
     * @param settings every setting of the file
     * @param b        the builder, with the other keys applied
     * @param runner   runs the cluster's tools
     * @param where    the file, for messages
     */
    static void apply(Map<String, String> settings, MigrationBuilder b, CommandRunner runner, String where) {
        check(settings, where);
        Optional<String> state = get(settings, "pacemaker.state");
        if (state.isPresent()) {
            if (!state.get().equals("cib")) {
                throw new IllegalArgumentException(where + ": pacemaker.state=" + state.get() + " is not cib; for a"
                        + " directory, use stateDirectory");
            }
            if (get(settings, "stateDirectory").isPresent()) {
                throw new IllegalArgumentException(where + ": pacemaker.state=cib and stateDirectory are both set;"
                        + " keep one");
            }
            b.stateStore(new CibStateStore(runner));
        }
        if (get(settings, "pacemaker.vip").isPresent()) {
            PacemakerVip.Builder vip = PacemakerVip.builder(get(settings, "pacemaker.vip").get()).runner(runner);
            vip.source(placement(settings, "pacemaker.vip.source", where));
            vip.target(placement(settings, "pacemaker.vip.target", where));
            get(settings, "pacemaker.vip.timeout").ifPresent(s -> vip.startTimeout(duration(s, where)));
            b.trafficSwitch(vip.build());
        }
    }

    private static Duration duration(String value, String where) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)\\s*(ms|s|m|min|h)?").matcher(value.strip());
        try {
            if (value.strip().startsWith("P")) {
                return Duration.parse(value.strip());
            }
            if (m.matches()) {
                long n = Long.parseLong(m.group(1));
                String unit = m.group(2) == null ? "s" : m.group(2);
                return switch (unit) {
                    case "ms" -> Duration.ofMillis(n);
                    case "m", "min" -> Duration.ofMinutes(n);
                    case "h" -> Duration.ofHours(n);
                    default -> Duration.ofSeconds(n);
                };
            }
        } catch (java.time.format.DateTimeParseException | NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(where + ": pacemaker.vip.timeout=" + value + " is not a duration such as"
                + " 30s, 2m or PT30S");
    }

    private static PacemakerVip.Placement placement(Map<String, String> settings, String prefix, String where) {
        Optional<String> node = get(settings, prefix + ".node");
        Optional<String> resource = get(settings, prefix + ".resource");
        if (node.isPresent() == resource.isPresent()) {
            throw new IllegalArgumentException(where + ": set exactly one of " + prefix + ".node and " + prefix
                    + ".resource");
        }
        return node.map(PacemakerVip.Placement::node).orElseGet(() -> PacemakerVip.Placement.resource(resource.get()));
    }
}
