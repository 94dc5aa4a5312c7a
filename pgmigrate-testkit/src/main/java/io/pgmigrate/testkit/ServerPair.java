package io.pgmigrate.testkit;

import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The source and target server of one test class, kept in the JUnit store so JUnit closes them after the class.
 * It is both {@link AutoCloseable} (what JUnit 5.13 and later close) and {@code CloseableResource} (what older
 * versions close); closing twice does nothing.
 */
@SuppressWarnings("deprecation")
final class ServerPair implements AutoCloseable, ExtensionContext.Store.CloseableResource {

    private final PostgresServer source;
    private final PostgresServer target;
    private final AutoCloseable afterBoth;
    private final AtomicBoolean closed = new AtomicBoolean();

    private ServerPair(PostgresServer source, PostgresServer target, AutoCloseable afterBoth) {
        this.source = source;
        this.target = target;
        this.afterBoth = afterBoth;
    }

    /**
     * Starts both servers at the same time, the source on a thread of its own; when either fails, the other is
     * closed and the failure thrown. {@code afterBoth} runs after both servers closed (or when starting fails).
     */
    static ServerPair start(Callable<PostgresServer> source, Callable<PostgresServer> target, AutoCloseable afterBoth) {
        FutureTask<PostgresServer> sourceTask = new FutureTask<>(source);
        Thread t = new Thread(sourceTask, "pgmigrate-testkit-start-source");
        t.setDaemon(true);
        t.start();
        PostgresServer targetServer = null;
        Throwable failure = null;
        try {
            targetServer = target.call();
        } catch (Throwable e) {
            failure = e;
        }
        PostgresServer sourceServer = null;
        try {
            sourceServer = sourceTask.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = addTo(failure, e);
        } catch (ExecutionException e) {
            failure = addTo(failure, e.getCause());
        }
        if (failure == null) {
            return new ServerPair(sourceServer, targetServer, afterBoth);
        }
        closeAll(failure, sourceServer, targetServer, afterBoth);
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        throw new IllegalStateException("could not start the PostgreSQL pair: " + failure.getMessage(), failure);
    }

    PostgresServer source() {
        return source;
    }

    PostgresServer target() {
        return target;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        // Both stop at once too: each fast shutdown waits for its own server.
        CompletableFuture<Void> s = CompletableFuture.runAsync(source::close, r -> {
            Thread t = new Thread(r, "pgmigrate-testkit-stop-source");
            t.setDaemon(true);
            t.start();
        });
        Throwable failure = null;
        try {
            target.close();
        } catch (RuntimeException e) {
            failure = e;
        }
        try {
            s.join();
        } catch (CompletionException e) {
            failure = addTo(failure, e.getCause());
        }
        try {
            afterBoth.close();
        } catch (Exception e) {
            failure = addTo(failure, e);
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        if (failure != null) {
            throw new IllegalStateException("could not close the PostgreSQL pair: " + failure.getMessage(), failure);
        }
    }

    private static void closeAll(Throwable failure, PostgresServer a, PostgresServer b, AutoCloseable afterBoth) {
        for (AutoCloseable c : new AutoCloseable[] {a, b, afterBoth}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    failure.addSuppressed(e);
                }
            }
        }
    }

    private static Throwable addTo(Throwable first, Throwable next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    @Override
    public String toString() {
        return "source " + source + ", target " + target;
    }
}
