package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Begin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Binary;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Column;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Commit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Delete;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Insert;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.LogicalMessage;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Null;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Origin;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Relation;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamAbort;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamCommit;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStart;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.StreamStop;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Text;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Truncate;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Type;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Unchanged;
import io.pgmigrate.core.internal.replication.stream.PgOutputMessage.Update;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.OptionalInt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The pgoutput decoder on byte fixtures laid out as PostgreSQL's protocol documentation describes each message. */
class PgOutputDecoderTest {

    /** 2026-12-01T10:00:00.123456Z in microseconds since 2000-01-01. */
    private static final long COMMIT_MICROS = (Instant.parse("2026-12-01T10:00:00Z").getEpochSecond()
            - Instant.parse("2000-01-01T00:00:00Z").getEpochSecond()) * 1_000_000L + 123_456L;

    private final PgOutputDecoder decoder = new PgOutputDecoder();

    @Test
    void beginAndCommitCarryTheirPositionsAndTheCommitTimeToTheMicrosecond() {
        Begin b = (Begin) decode(m('B').i64(0x1_6B374D48L).i64(COMMIT_MICROS).i32(7501));
        assertThat(b).isEqualTo(new Begin(Lsn.parse("1/6B374D48"), Instant.parse("2026-12-01T10:00:00.123456Z"),
                7501));
        Commit c = (Commit) decode(m('C').i8(0).i64(0x1_6B374D48L).i64(0x1_6B374D80L).i64(COMMIT_MICROS));
        assertThat(c).isEqualTo(new Commit(Lsn.parse("1/6B374D48"), Lsn.parse("1/6B374D80"),
                Instant.parse("2026-12-01T10:00:00.123456Z")));
    }

    @Test
    void aRelationInPgCatalogHasAnEmptyNamespaceOnTheWire() {
        Relation r = (Relation) decode(m('R').i32(16402).str("").str("pg_class_like").i8('f').i16(2)
                .i8(1).str("id").i32(20).i32(-1)
                .i8(0).str("Odd \"Name\"").i32(1043).i32(68));
        assertThat(r.schema()).isEqualTo("pg_catalog");
        assertThat(r.replicaIdentity()).isEqualTo('f');
        assertThat(r.columns()).containsExactly(new Column(true, "id", 20, -1),
                new Column(false, "Odd \"Name\"", 1043, 68));
        assertThat(r.streamXid()).isEmpty();
    }

    @Test
    void everyColumnKindOfARowIsKeptAndUnchangedToastIsNotNull() {
        Insert i = (Insert) decode(m('I').i32(16402).i8('N').i16(4)
                .i8('n').i8('u').i8('t').bytes("héllo".getBytes(StandardCharsets.UTF_8)).i8('b').bytes(new byte[]{1, 2}));
        assertThat(i.relation()).isEqualTo(16402);
        assertThat(i.row().values()).hasSize(4);
        assertThat(i.row().values().get(0)).isSameAs(Null.INSTANCE);
        assertThat(i.row().values().get(1)).isSameAs(Unchanged.INSTANCE);
        assertThat(i.row().values().get(2)).isEqualTo(new Text("héllo"));
        assertThat(((Binary) i.row().values().get(3)).bytes()).containsExactly(1, 2);
    }

    @Test
    void anUpdateWithoutOldRowAndOneWithTheOldKeyAndOneWithTheWholeOldRow() {
        Update plain = (Update) decode(m('U').i32(5).i8('N').i16(1).i8('t').bytes("1".getBytes()));
        assertThat(plain.oldKind()).isEqualTo((char) 0);
        assertThat(plain.old()).isNull();
        Update key = (Update) decode(m('U').i32(5).i8('K').i16(1).i8('t').bytes("1".getBytes())
                .i8('N').i16(1).i8('t').bytes("2".getBytes()));
        assertThat(key.oldKind()).isEqualTo('K');
        assertThat(key.old().values()).containsExactly(new Text("1"));
        assertThat(key.row().values()).containsExactly(new Text("2"));
        Update full = (Update) decode(m('U').i32(5).i8('O').i16(1).i8('n').i8('N').i16(1).i8('t').bytes("x".getBytes()));
        assertThat(full.oldKind()).isEqualTo('O');
        assertThat(full.old().values()).containsExactly(Null.INSTANCE);
    }

    @Test
    void deletesTruncatesAndMessages() {
        Delete d = (Delete) decode(m('D').i32(9).i8('K').i16(1).i8('t').bytes("42".getBytes()));
        assertThat(d).isEqualTo(new Delete(OptionalInt.empty(), 9, 'K', d.old()));
        assertThat(d.old().values()).containsExactly(new Text("42"));
        Truncate t = (Truncate) decode(m('T').i32(2).i8(3).i32(10).i32(11));
        assertThat(t).isEqualTo(new Truncate(OptionalInt.empty(), true, true, List.of(10, 11)));
        Truncate plain = (Truncate) decode(m('T').i32(1).i8(0).i32(10));
        assertThat(plain.cascade()).isFalse();
        assertThat(plain.restartIdentity()).isFalse();
        LogicalMessage msg = (LogicalMessage) decode(m('M').i8(1).i64(0x20L).str("pgmigrate")
                .bytes("sentinel 1".getBytes()));
        assertThat(msg.transactional()).isTrue();
        assertThat(msg.lsn()).isEqualTo(new Lsn(0x20));
        assertThat(msg.prefix()).isEqualTo("pgmigrate");
        assertThat(msg.text()).isEqualTo("sentinel 1");
        Origin o = (Origin) decode(m('O').i64(0x30L).str("pg_16390"));
        assertThat(o).isEqualTo(new Origin(new Lsn(0x30), "pg_16390"));
        Type y = (Type) decode(m('Y').i32(16500).str("shop").str("mood"));
        assertThat(y).isEqualTo(new Type(OptionalInt.empty(), 16500, "shop", "mood"));
    }

    @Test
    void insideAStreamBlockDataMessagesCarryTheTransactionsXidAndOutsideTheyDoNot() {
        assertThat(decode(m('S').i32(900).i8(1))).isEqualTo(new StreamStart(900, true));
        Relation r = (Relation) decode(m('R').i32(900).i32(16402).str("public").str("t").i8('d').i16(0));
        assertThat(r.streamXid()).hasValue(900);
        Insert i = (Insert) decode(m('I').i32(900).i32(16402).i8('N').i16(0));
        assertThat(i.streamXid()).hasValue(900);
        LogicalMessage msg = (LogicalMessage) decode(m('M').i32(900).i8(1).i64(1).str("p").bytes(new byte[0]));
        assertThat(msg.streamXid()).hasValue(900);
        assertThat(decode(m('E'))).isEqualTo(new StreamStop());
        Insert after = (Insert) decode(m('I').i32(16402).i8('N').i16(0));
        assertThat(after.streamXid()).isEmpty();
        assertThat(decode(m('c').i32(900).i8(0).i64(0x40L).i64(0x48L).i64(COMMIT_MICROS)))
                .isEqualTo(new StreamCommit(900, new Lsn(0x40), new Lsn(0x48),
                        Instant.parse("2026-12-01T10:00:00.123456Z")));
        assertThat(decode(m('A').i32(900).i32(901))).isEqualTo(new StreamAbort(900, 901));
    }

    @Test
    void whatItDoesNotKnowIsAnErrorNeverSkipped() {
        assertThatThrownBy(() -> decode(m('b').i64(1))).hasMessageContaining("unknown pgoutput message type 'b'");
        assertThatThrownBy(() -> decode(m('I').i32(1).i8('N').i16(1).i8('x')))
                .hasMessageContaining("unknown kind 'x'");
        assertThatThrownBy(() -> decode(m('I').i32(1).i8('X').i16(0))).hasMessageContaining("not 'N'");
        assertThatThrownBy(() -> decode(m('D').i32(1).i8('N').i16(0))).hasMessageContaining("not 'K' or 'O'");
        assertThatThrownBy(() -> decode(m('B').i64(1))).hasMessageContaining("'B' is truncated");
        assertThatThrownBy(() -> decode(m('R').i32(1).raw("no terminator".getBytes())))
                .hasMessageContaining("'R' is truncated");
        assertThatThrownBy(() -> decode(m('E').i8(0))).hasMessageContaining("1 bytes left");
        assertThatThrownBy(() -> decoder.decode(ByteBuffer.allocate(0))).hasMessageContaining("empty");
    }

    @Test
    void aMessageInTheMiddleOfALargerBufferIsReadFromItsPosition() {
        byte[] payload = m('O').i64(0x30L).str("o").bytes;
        byte[] framed = new byte[payload.length + 5];
        System.arraycopy(payload, 0, framed, 5, payload.length);
        assertThat(decoder.decode(ByteBuffer.wrap(framed, 5, payload.length))).isEqualTo(new Origin(new Lsn(0x30), "o"));
    }

    private PgOutputMessage decode(Fixture f) {
        return decoder.decode(ByteBuffer.wrap(f.bytes()));
    }

    private static Fixture m(char type) {
        return new Fixture().i8(type);
    }

    /** A message as bytes, written field by field in network order. */
    private static final class Fixture {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final DataOutputStream data = new DataOutputStream(out);
        private byte[] bytes;

        Fixture i8(int v) {
            return write(() -> data.writeByte(v));
        }

        Fixture i16(int v) {
            return write(() -> data.writeShort(v));
        }

        Fixture i32(int v) {
            return write(() -> data.writeInt(v));
        }

        Fixture i64(long v) {
            return write(() -> data.writeLong(v));
        }

        Fixture str(String s) {
            return write(() -> {
                data.write(s.getBytes(StandardCharsets.UTF_8));
                data.writeByte(0);
            });
        }

        Fixture bytes(byte[] b) {
            return write(() -> {
                data.writeInt(b.length);
                data.write(b);
            });
        }

        Fixture raw(byte[] b) {
            return write(() -> data.write(b));
        }

        byte[] bytes() {
            bytes = out.toByteArray();
            return bytes;
        }

        private interface Io {
            void run() throws IOException;
        }

        private Fixture write(Io io) {
            try {
                io.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            bytes = out.toByteArray();
            return this;
        }
    }
}
