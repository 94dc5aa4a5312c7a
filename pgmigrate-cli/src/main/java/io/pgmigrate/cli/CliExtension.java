package io.pgmigrate.cli;

import io.pgmigrate.MigrationBuilder;

import java.util.List;
import java.util.Map;

/**
 * A module's part in the command line, found with {@link java.util.ServiceLoader}: the keys of the properties file
 * under its prefix (such as {@code pacemaker.}), which set what a file cannot name by itself (a state store, a traffic
 * switch), and commands of its own. {@code pgmigrate-pacemaker} is one: with it on the class path, every command
 * moves the VIP and keeps its state in the cluster, as the file says, and {@code pgmigrate agent ...} is the OCF
 * agent's Java side.
 *
 * @since 0.2.0
 */
public interface CliExtension {

    /**
     * The prefix of this extension's keys, ending with a dot.
     *
     * @return the prefix, such as {@code pacemaker.}
     */
    String prefix();

    /**
     * Applies this extension's keys to {@code builder}, after the file's other keys were applied.
     *
     * @param settings every setting of the file whose key starts with {@link #prefix()} (prefix included)
     * @param all      every setting of the file, for keys the extension reads but does not own
     * @param builder  the migration's builder
     * @throws IllegalArgumentException naming the key, when a setting is wrong
     */
    void configure(Map<String, String> settings, Map<String, String> all, MigrationBuilder builder);

    /**
     * Commands this extension adds: picocli command objects.
     *
     * @return the commands; none by default
     */
    default List<Object> commands() {
        return List.of();
    }
}
