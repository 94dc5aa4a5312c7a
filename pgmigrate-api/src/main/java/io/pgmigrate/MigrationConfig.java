package io.pgmigrate;

import java.time.Duration;
import java.util.List;

/**
 * A validated migration configuration, as {@link MigrationBuilder#build()} hands it to the implementation.
 *
 * @param name                 prefix of every object the migration creates, and its state key
 * @param source               the server to migrate from
 * @param target               the server to migrate to
 * @param sourceAsSeenByTarget how the target server reaches the source (NATIVE engine); usually {@code source}
 * @param databases            the databases to migrate, in order
 * @param engine               how changes travel
 * @param trafficSwitch        what points traffic at a side during cutover
 * @param listeners            progress and phase listeners
 * @param stateStore           where the journal is kept
 * @param progressInterval     how often listeners get a status while pgmigrate waits
 * @param connectTimeout       bound on opening one connection
 * @param connectAttempts      attempts for transient connection failures, with exponential backoff
 */
public record MigrationConfig(String name, Endpoint source, Endpoint target, Endpoint sourceAsSeenByTarget,
                              List<String> databases, Engine engine, TrafficSwitch trafficSwitch,
                              List<MigrationListener> listeners, StateStore stateStore, Duration progressInterval,
                              Duration connectTimeout, int connectAttempts) {

    public MigrationConfig {
        databases = List.copyOf(databases);
        listeners = List.copyOf(listeners);
    }

    @Override
    public String toString() {
        return "MigrationConfig[name=" + name + ", source=" + source + ", target=" + target + ", databases=" + databases
                + ", engine=" + engine + ", trafficSwitch=" + trafficSwitch.description() + ", stateStore=" + stateStore
                + "]";
    }
}
