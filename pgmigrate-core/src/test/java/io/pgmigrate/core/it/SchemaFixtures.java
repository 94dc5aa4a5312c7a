package io.pgmigrate.core.it;

/** A schema with every object kind an application database holds, for schema copy and comparison tests. */
final class SchemaFixtures {

    /** Every kind the catalog copy handles: types, functions, identity, generated columns, views on views, ... */
    static final String COPYABLE = """
            CREATE SCHEMA "Lager";
            CREATE SCHEMA app;
            CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN app.positive AS numeric(12, 2) DEFAULT 1 NOT NULL CONSTRAINT positive_check CHECK (VALUE > 0);
            CREATE TYPE app.address AS (street text COLLATE "C", zip varchar(10), "Größe" integer);
            CREATE TYPE app.floatrange AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = float8mi);
            CREATE SEQUENCE app.ticket_seq AS integer INCREMENT BY 5 MINVALUE 10 MAXVALUE 100000 START 20 CYCLE;
            CREATE FUNCTION app.next_code(prefix text) RETURNS text LANGUAGE plpgsql STABLE AS $$
            BEGIN
                RETURN prefix || '-' || nextval('app.ticket_seq')::text;
            END
            $$;
            CREATE FUNCTION app.is_code(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN v ~ '^[A-Z]+-[0-9]+$';
            END
            $$;
            CREATE FUNCTION app.touch_bestand() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.menge := NEW.menge + 0;
                RETURN NEW;
            END
            $$;
            CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.updated := now();
                RETURN NEW;
            END
            $$;
            CREATE TABLE app.customers (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                name text COLLATE "C" NOT NULL,
                mood app.mood DEFAULT 'ok',
                home app.address,
                credit app.positive,
                email text UNIQUE,
                "Straße" text,
                updated timestamptz
            );
            CREATE TABLE app.orders (
                id bigserial PRIMARY KEY,
                code text NOT NULL DEFAULT app.next_code('ORD') CHECK (app.is_code(code)),
                customer_id bigint NOT NULL REFERENCES app.customers (id) DEFERRABLE INITIALLY DEFERRED,
                qty integer NOT NULL CONSTRAINT qty_positive CHECK (qty > 0),
                price numeric(12, 2) NOT NULL DEFAULT 0,
                total numeric(14, 2) GENERATED ALWAYS AS (qty * price) STORED,
                during app.floatrange,
                created timestamptz NOT NULL DEFAULT now(),
                updated timestamptz
            );
            CREATE PROCEDURE app.archive(days integer) LANGUAGE sql AS $$ DELETE FROM app.orders WHERE false $$;
            CREATE TABLE app.bookings (
                id integer PRIMARY KEY,
                during tstzrange NOT NULL,
                CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&) DEFERRABLE
            );
            CREATE INDEX orders_open_idx ON app.orders (customer_id) INCLUDE (qty) WHERE qty > 10;
            CREATE INDEX orders_code_lower_idx ON app.orders (lower(code), created DESC);
            CREATE UNIQUE INDEX customers_name_idx ON app.customers USING btree (name text_pattern_ops);
            CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders FOR EACH ROW
                WHEN (OLD.qty IS DISTINCT FROM NEW.qty) EXECUTE FUNCTION app.touch();
            CREATE FUNCTION app.noted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RETURN NULL;
            END
            $$;
            CREATE TRIGGER customers_replicated AFTER INSERT ON app.customers FOR EACH ROW
                EXECUTE FUNCTION app.noted();
            ALTER TABLE app.customers ENABLE REPLICA TRIGGER customers_replicated;
            CREATE TRIGGER customers_always AFTER UPDATE ON app.customers FOR EACH STATEMENT
                EXECUTE FUNCTION app.noted();
            ALTER TABLE app.customers ENABLE ALWAYS TRIGGER customers_always;
            ALTER TABLE app.customers ENABLE ROW LEVEL SECURITY;
            CREATE POLICY customers_happy ON app.customers FOR SELECT TO PUBLIC
                USING (mood <> 'sad'::app.mood);
            CREATE VIEW app.big_orders AS
                SELECT o.id, o.code, c.name, o.qty * o.price AS amount
                FROM app.orders o JOIN app.customers c ON c.id = o.customer_id
                WHERE o.qty > 10;
            CREATE VIEW "Lager"."Große Bestellungen" AS
                SELECT b.name, sum(b.amount) AS amount, count(*) AS n FROM app.big_orders b
                GROUP BY b.name HAVING sum(b.amount) > 100 ORDER BY 2 DESC;
            CREATE MATERIALIZED VIEW app.daily AS
                SELECT date_trunc('day', created) AS day, count(*) AS n, coalesce(sum(total), 0) AS total
                FROM app.orders GROUP BY 1 WITH NO DATA;
            CREATE UNIQUE INDEX daily_day_idx ON app.daily (day);
            COMMENT ON SCHEMA "Lager" IS 'Lager und Bestände';
            COMMENT ON TABLE app.orders IS 'orders, one row each';
            COMMENT ON COLUMN app.orders.code IS 'ORD-<n>';
            COMMENT ON TYPE app.mood IS 'how it feels';
            COMMENT ON FUNCTION app.next_code(text) IS 'the next order code';
            COMMENT ON CONSTRAINT qty_positive ON app.orders IS 'never zero';
            COMMENT ON VIEW "Lager"."Große Bestellungen" IS 'per customer';
            """;

    /**
     * A partitioned table (range, with a list-partitioned partition and a default partition, a foreign key, a
     * trigger, an index on the parent and one on a single partition) and an unlogged table with a rule.
     */
    static final String PARTITIONED = """
            CREATE TABLE "Lager"."Bestand ""Äpfel""\" (
                "Lager-ID" integer NOT NULL,
                day date NOT NULL,
                menge integer DEFAULT 0 CHECK (menge >= 0),
                kunde bigint REFERENCES app.customers (id),
                PRIMARY KEY ("Lager-ID", day)
            ) PARTITION BY RANGE (day);
            CREATE TABLE "Lager"."Bestand 2024" PARTITION OF "Lager"."Bestand ""Äpfel""\"
                FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE "Lager"."Bestand 2025" PARTITION OF "Lager"."Bestand ""Äpfel""\"
                FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST ("Lager-ID");
            CREATE TABLE "Lager"."Bestand 2025 Nord" PARTITION OF "Lager"."Bestand 2025" FOR VALUES IN (1, 2);
            CREATE TABLE "Lager"."Bestand 2025 Süd" PARTITION OF "Lager"."Bestand 2025" DEFAULT;
            CREATE TABLE "Lager"."Bestand sonst" PARTITION OF "Lager"."Bestand ""Äpfel""\" (menge DEFAULT 7) DEFAULT;
            CREATE INDEX bestand_menge_idx ON "Lager"."Bestand ""Äpfel""\" (menge);
            CREATE INDEX bestand_2024_kunde_idx ON "Lager"."Bestand 2024" (kunde);
            CREATE TRIGGER bestand_touch BEFORE UPDATE ON "Lager"."Bestand ""Äpfel""\" FOR EACH ROW
                WHEN (OLD.menge IS DISTINCT FROM NEW.menge) EXECUTE FUNCTION app.touch_bestand();
            CREATE UNLOGGED TABLE "Lager".scratch (k text, v text) WITH (fillfactor = 70);
            CREATE RULE scratch_no_delete AS ON DELETE TO "Lager".scratch DO INSTEAD NOTHING;
            """;

    /** Every object kind the catalog copy handles. */
    static final String RICH = COPYABLE + PARTITIONED;

    /** Objects the copy reports instead of creating: an aggregate and an inheritance hierarchy. */
    static final String NOT_COPIED = """
            CREATE AGGREGATE app.text_concat(text) (SFUNC = textcat, STYPE = text, INITCOND = '');
            CREATE TABLE app.events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
            CREATE TABLE app.login_events (who text) INHERITS (app.events);
            """;

    private SchemaFixtures() {
    }
}
