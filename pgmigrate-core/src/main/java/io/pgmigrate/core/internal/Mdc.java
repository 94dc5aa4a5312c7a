package io.pgmigrate.core.internal;

import org.slf4j.MDC;

import java.util.Map;

/**
 * The SLF4J MDC keys pgmigrate sets, so a log line carries the migration, database and side it concerns whatever the
 * message says: {@value #MIGRATION}, {@value #DATABASE}, {@value #SIDE}. Scopes restore what was there before, so
 * nested calls and the caller's own MDC entries survive.
 */
public final class Mdc {

    /** The migration's name. */
    public static final String MIGRATION = "pgmigrate.migration";
    /** The database a step works on. */
    public static final String DATABASE = "pgmigrate.database";
    /** The side ({@code SOURCE} or {@code TARGET}) a step works on. */
    public static final String SIDE = "pgmigrate.side";

    private Mdc() {
    }

    /** An MDC entry until {@link #close()}. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Sets {@code key} to {@code value} until the scope closes, then restores the previous value; a null value sets
     * nothing (the call it would label fails on it anyway).
     */
    public static Scope put(String key, String value) {
        if (value == null) {
            return () -> { };
        }
        String previous = MDC.get(key);
        MDC.put(key, value);
        return () -> {
            if (previous == null) {
                MDC.remove(key);
            } else {
                MDC.put(key, previous);
            }
        };
    }

    /** Sets {@link #SIDE} until the scope closes. */
    public static Scope side(io.pgmigrate.Side side) {
        return put(SIDE, side.name());
    }

    /** {@code task} run with the calling thread's MDC, for a task handed to another thread. */
    public static Runnable carrying(Runnable task) {
        Map<String, String> context = MDC.getCopyOfContextMap();
        return () -> {
            Map<String, String> previous = MDC.getCopyOfContextMap();
            if (context == null) {
                MDC.clear();
            } else {
                MDC.setContextMap(context);
            }
            try {
                task.run();
            } finally {
                if (previous == null) {
                    MDC.clear();
                } else {
                    MDC.setContextMap(previous);
                }
            }
        };
    }
}
