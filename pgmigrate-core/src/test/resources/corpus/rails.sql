-- A Rails application's structure.sql, as Rails writes it (written for pgmigrate's tests). The generated tables of
-- its many models are added by SchemaCorpus.rails(), after this part.
SET statement_timeout = 0;
SET check_function_bodies = false;
SET client_min_messages = warning;

CREATE TYPE public.order_status AS ENUM ('cart', 'placed', 'paid', 'shipped', 'cancelled');
CREATE TYPE public.order_summary AS (order_id bigint, items integer, total numeric);

CREATE FUNCTION public.set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE SEQUENCE public.order_reference_seq START WITH 100000;
CREATE FUNCTION public.next_order_reference() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN 'R' || lpad(nextval('public.order_reference_seq')::text, 9, '0');
END
$$;

CREATE TABLE public.schema_migrations (version character varying NOT NULL PRIMARY KEY);
CREATE TABLE public.ar_internal_metadata (
    key character varying NOT NULL PRIMARY KEY,
    value character varying,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE TABLE public.users (
    id bigserial PRIMARY KEY,
    email character varying DEFAULT ''::character varying NOT NULL,
    encrypted_password character varying DEFAULT ''::character varying NOT NULL,
    reset_password_token character varying,
    sign_in_count integer DEFAULT 0 NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_users_on_email ON public.users USING btree (email);
CREATE UNIQUE INDEX index_users_on_reset_password_token ON public.users USING btree (reset_password_token);
CREATE TABLE public.orders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    status public.order_status DEFAULT 'cart'::public.order_status NOT NULL,
    reference text DEFAULT public.next_order_reference() NOT NULL,
    total_cents bigint DEFAULT 0 NOT NULL,
    notes text,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);
CREATE INDEX index_orders_on_user_id ON public.orders USING btree (user_id);
CREATE UNIQUE INDEX index_orders_on_reference ON public.orders USING btree (reference);
CREATE INDEX index_orders_open ON public.orders USING btree (created_at) WHERE (status <> ALL (ARRAY['shipped'::public.order_status, 'cancelled'::public.order_status]));
ALTER TABLE ONLY public.orders ADD CONSTRAINT fk_rails_f868b47f6a FOREIGN KEY (user_id) REFERENCES public.users(id);
CREATE TABLE public.order_items (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL,
    sku character varying NOT NULL,
    quantity integer DEFAULT 1 NOT NULL,
    price_cents bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    CONSTRAINT quantity_positive CHECK ((quantity > 0))
);
CREATE INDEX index_order_items_on_order_id ON public.order_items USING btree (order_id);
ALTER TABLE ONLY public.order_items ADD CONSTRAINT fk_rails_e3cb28f071 FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;
ALTER TABLE public.order_items ALTER COLUMN sku SET STATISTICS 1000;

-- Functions that take and return the models' row types.
CREATE FUNCTION public.order_total(o public.orders) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(i.quantity * i.price_cents), 0) / 100.0 FROM public.order_items i
            WHERE i.order_id = o.id);
END
$$;
CREATE FUNCTION public.user_orders(u public.users) RETURNS SETOF public.orders LANGUAGE sql STABLE AS $$
    SELECT * FROM public.orders WHERE user_id = u.id ORDER BY created_at
$$;
CREATE FUNCTION public.summarize(o public.orders) RETURNS public.order_summary LANGUAGE sql STABLE AS $$
    SELECT o.id, (SELECT count(*)::integer FROM public.order_items WHERE order_id = o.id), public.order_total(o)
$$;
CREATE FUNCTION public.latest_order(u public.users) RETURNS public.orders LANGUAGE plpgsql STABLE AS $$
DECLARE result public.orders;
BEGIN
    SELECT * INTO result FROM public.orders WHERE user_id = u.id ORDER BY created_at DESC LIMIT 1;
    RETURN result;
END
$$;

-- Aggregates: a plain one, a moving one for window frames, an ordered-set one.
CREATE AGGREGATE public.product(numeric) (SFUNC = numeric_mul, STYPE = numeric, INITCOND = '1');
CREATE AGGREGATE public.running_total(numeric) (
    SFUNC = numeric_add, STYPE = numeric, INITCOND = '0',
    MSFUNC = numeric_add, MINVFUNC = numeric_sub, MSTYPE = numeric, MINITCOND = '0'
);
CREATE FUNCTION public.collect_sorted(state numeric[], v numeric) RETURNS numeric[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_append(state, v)
$$;
CREATE FUNCTION public.pick_fraction_final(state numeric[], fraction double precision, v numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$
    SELECT state[greatest(1, ceil(fraction * coalesce(array_length(state, 1), 0))::integer)]
$$;
CREATE AGGREGATE public.pick_fraction(double precision ORDER BY numeric) (
    SFUNC = public.collect_sorted, STYPE = numeric[], FINALFUNC = public.pick_fraction_final, FINALFUNC_EXTRA
);

CREATE VIEW public.order_stats AS
    SELECT o.user_id, count(*) AS orders, public.product(1 + o.total_cents / 1000000.0) AS growth,
           public.pick_fraction(0.5) WITHIN GROUP (ORDER BY o.total_cents::numeric) AS median_cents,
           max(public.order_total(o)) AS largest
    FROM public.orders o GROUP BY o.user_id;
CREATE VIEW public.order_running_totals AS
    SELECT o.id, o.user_id, public.running_total(o.total_cents::numeric)
                                OVER (PARTITION BY o.user_id ORDER BY o.created_at ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
           AS last_three
    FROM public.orders o;
CREATE MATERIALIZED VIEW public.daily_revenue AS
    SELECT date_trunc('day', o.created_at) AS day, sum(o.total_cents) AS cents, count(*) AS orders
    FROM public.orders o WHERE o.status = 'paid'::public.order_status GROUP BY 1;
CREATE UNIQUE INDEX index_daily_revenue_on_day ON public.daily_revenue USING btree (day);

-- Partitioned by month, as a log table grows.
CREATE TABLE public.page_views (
    id bigserial NOT NULL,
    user_id bigint,
    path character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE public.page_views_2026_01 PARTITION OF public.page_views FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE public.page_views_2026_02 PARTITION OF public.page_views FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
CREATE TABLE public.page_views_default PARTITION OF public.page_views DEFAULT;
CREATE INDEX index_page_views_on_user_id ON public.page_views USING btree (user_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

INSERT INTO public.schema_migrations VALUES ('20260101000000'), ('20260215093000');
INSERT INTO public.ar_internal_metadata VALUES ('environment', 'production', now(), now());
INSERT INTO public.users (email, created_at, updated_at) VALUES ('ada@example.org', now(), now());
INSERT INTO public.orders (user_id, status, total_cents, created_at, updated_at) VALUES (1, 'paid', 4200, now(), now());
INSERT INTO public.order_items (order_id, sku, quantity, price_cents, created_at, updated_at)
    VALUES (1, 'SKU-1', 2, 2100, now(), now());
INSERT INTO public.page_views (user_id, path, created_at)
    VALUES (1, '/', '2026-01-03'), (1, '/cart', '2026-02-03'), (1, '/old', '2025-06-01');
