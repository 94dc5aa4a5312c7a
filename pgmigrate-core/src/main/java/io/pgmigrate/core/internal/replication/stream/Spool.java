package io.pgmigrate.core.internal.replication.stream;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The changes of one large transaction that the source streams while it runs, kept until it commits (then read back
 * in order) or aborts (then dropped). Held in memory up to a few megabytes, then in a temporary file. A subtransaction
 * that aborts is remembered and its changes are skipped when read back.
 */
final class Spool implements AutoCloseable {

    /** Bytes held in memory before the spool moves to a file. */
    private static final int MEMORY = 4 << 20;

    /** One message as it came, with the (sub)transaction that made it. */
    private record Entry(int xid, byte[] bytes) {
    }

    /** What reading back hands each message to. */
    interface Sink {
        void accept(PgOutputMessage message) throws Exception;
    }

    private final int xid;
    private final List<Entry> memory = new ArrayList<>();
    private final Set<Integer> aborted = new HashSet<>();
    private long memoryBytes;
    private Path file;
    private DataOutputStream out;

    Spool(int xid) {
        this.xid = xid;
    }

    int xid() {
        return xid;
    }

    void add(int subXid, byte[] message) {
        try {
            if (out == null && memoryBytes + message.length <= MEMORY) {
                memory.add(new Entry(subXid, message));
                memoryBytes += message.length;
                return;
            }
            if (out == null) {
                file = Files.createTempFile("pgmigrate-stream-" + xid + "-", ".spool");
                out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16));
            }
            out.writeInt(subXid);
            out.writeInt(message.length);
            out.write(message);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot spool streamed transaction " + xid, e);
        }
    }

    /** A subtransaction of this transaction aborted: its changes are not applied. */
    void abort(int subXid) {
        aborted.add(subXid);
    }

    /** Reads every message back in the order it came, but those of aborted subtransactions. */
    void replay(Sink sink) throws Exception {
        PgOutputDecoder decoder = new PgOutputDecoder(true);
        for (Entry e : memory) {
            if (!aborted.contains(e.xid())) {
                sink.accept(decoder.decode(ByteBuffer.wrap(e.bytes())));
            }
        }
        if (out == null) {
            return;
        }
        out.close();
        out = null;
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            while (true) {
                int sub;
                try {
                    sub = in.readInt();
                } catch (EOFException end) {
                    break;
                }
                byte[] bytes = new byte[in.readInt()];
                in.readFully(bytes);
                if (!aborted.contains(sub)) {
                    sink.accept(decoder.decode(ByteBuffer.wrap(bytes)));
                }
            }
        }
    }

    @Override
    public void close() {
        memory.clear();
        try {
            if (out != null) {
                out.close();
            }
            if (file != null) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the spool of streamed transaction " + xid, e);
        }
    }
}
