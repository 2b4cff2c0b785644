"""Data commands for live demos: seed, signup, profile, follow, unfollow, post, like, read."""

from __future__ import annotations

import getpass
import os

import typer

from polydemo.cli.context import command, with_json
from polydemo.console import safe
from polydemo.errors import ExitStatus, PolydemoError

JSON_OPT = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("seed", seed),
        ("signup", signup),
        ("update-profile", update_profile),
        ("delete-user", delete_user),
        ("follow", follow),
        ("unfollow", unfollow),
        ("post", post),
        ("like", like),
        ("trace", trace),
    ):
        command(app, name)(fn)
    read_app = typer.Typer(
        help="Read from one store: strong (postgres) versus eventual (redis, neo4j) reads.", no_args_is_help=True
    )
    command(read_app, "user")(read_user)
    app.add_typer(read_app, name="read")


def seed(
    ctx: typer.Context,
    reset: bool = typer.Option(False, "--reset", help="Empty every store first."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the projectors caught up."),
    json_out: bool = JSON_OPT,
) -> None:
    """Seed every store with the deterministic sample (36 users, their follows, 60 posts). Idempotent.

    Postgres and Mongo are written directly (systems of record); Neo4j, Redis and the time-series
    store are filled through the CDC pipeline, as every later write is.
    """
    from polydemo import seed as seed_lib

    st = with_json(ctx, json_out)
    result = seed_lib.seed(st.settings, reset=reset)
    converged = seed_lib.wait_converged(st.settings, timeout=60) if wait else None
    if st.env.json:
        st.env.emit_json({**result.__dict__, "converged": converged})
        return
    st.env.info(
        f"seeded: {result.users_added} users, {result.follows_added} follows, {result.posts_added} posts added"
        f"{' (after reset)' if reset else ''}"
    )
    if converged is False:
        st.env.info("[warn]the projectors have not caught up yet[/warn]: see `polydemo status`")
    elif converged:
        st.env.info("[ok]projections caught up[/ok] (graph, cache, analytics lag 0)")


def signup(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Unique email."),
    name: str = typer.Option(..., "--name", "-n", help="Display name."),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="POLYDEMO_SIGNUP_PASSWORD",
        help="Password (prompted if omitted; never printed or stored).",
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Sign a user up in Postgres (argon2id-hashed password). CDC carries it to every read model."""
    from polydemo.domain import users

    st = with_json(ctx, json_out)
    if password is None:
        if not os.isatty(0):
            raise PolydemoError("no password given", hint="pass --password or set POLYDEMO_SIGNUP_PASSWORD")
        password = getpass.getpass("password: ")
    user = users.signup(st.settings, email, name, password)
    _print_user(st, user.as_dict(), "signed up")


def update_profile(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Email or id."),
    name: str | None = typer.Option(None, "--name", "-n"),
    bio: str | None = typer.Option(None, "--bio", help="At most 500 characters (the schema-change story's column)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Change a user's display name and/or bio."""
    from polydemo.domain import users

    st = with_json(ctx, json_out)
    data = users.update_profile(st.settings, user, name, bio=bio).as_dict()
    _print_user(st, {**data, **({"bio": bio} if bio is not None else {})}, "updated")


def delete_user(
    ctx: typer.Context, user: str = typer.Argument(..., help="Email or id."), json_out: bool = JSON_OPT
) -> None:
    """Delete a user (and their follows)."""
    from polydemo.domain import users

    st = with_json(ctx, json_out)
    _print_user(st, users.delete_user(st.settings, user).as_dict(), "deleted")


def follow(
    ctx: typer.Context,
    follower: str = typer.Argument(..., help="Email or id of the follower."),
    followee: str = typer.Argument(..., help="Email or id of the one followed."),
    json_out: bool = JSON_OPT,
) -> None:
    """FOLLOWER follows FOLLOWEE (a row in Postgres `follows`; an edge in Neo4j soon after)."""
    from polydemo.domain import users

    st = with_json(ctx, json_out)
    a, b, created = users.follow(st.settings, follower, followee)
    _print_edge(st, a, b, created, "follows", "already followed")


def unfollow(
    ctx: typer.Context,
    follower: str = typer.Argument(...),
    followee: str = typer.Argument(...),
    json_out: bool = JSON_OPT,
) -> None:
    """FOLLOWER stops following FOLLOWEE."""
    from polydemo.domain import users

    st = with_json(ctx, json_out)
    a, b, removed = users.unfollow(st.settings, follower, followee)
    _print_edge(st, a, b, removed, "unfollowed", "was not following")


def post(
    ctx: typer.Context,
    author: str = typer.Argument(..., help="Email or id of the author."),
    title: str = typer.Option(..., "--title", "-t"),
    body: str = typer.Option("", "--body", "-b"),
    tags: list[str] | None = typer.Option(None, "--tag", help="A tag (repeatable)."),
    dual_write: bool = typer.Option(
        False, "--dual-write", help="The naive path: write Mongo, then publish to Kafka from here."
    ),
    outbox_mode: bool = typer.Option(
        False,
        "--outbox",
        help="The transactional outbox: the post and its event in one Postgres transaction, published by Debezium.",
    ),
    crash_between: bool = typer.Option(
        False,
        "--crash-between-writes",
        help="With --dual-write: die after the Mongo write (the hazard). With --outbox: SIGKILL before COMMIT.",
    ),
    post_id: str | None = typer.Option(None, "--id", help="The post's id (default: a new UUID)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a post in Mongo. By default its event reaches Kafka through the change-stream relay."""
    from polydemo.domain import posts, users

    st = with_json(ctx, json_out)
    if dual_write and outbox_mode:
        raise PolydemoError("--dual-write and --outbox are two different paths", hint="choose one")
    if crash_between and not (dual_write or outbox_mode):
        raise PolydemoError(
            "--crash-between-writes only applies to --dual-write or --outbox", hint="add --dual-write or --outbox"
        )
    author_user = users.require_user(st.settings, author)
    if outbox_mode:
        from polydemo.pipeline import outbox

        if crash_between:
            code = outbox.create_post_crashing(st.settings, author_user.id, title, body, tags, post_id=post_id)
            if code != outbox.CRASH_EXIT:
                raise PolydemoError(f"the outbox writer exited {code}, not killed by the injected SIGKILL")
            st.env.info(
                "the outbox writer was SIGKILLed before COMMIT (injected): nothing committed, nothing published"
            )
            raise typer.Exit(int(ExitStatus.INJECTED_CRASH))
        doc = outbox.create_post(st.settings, author_user.id, title, body, tags, post_id=post_id)
        doc = {"_id": doc["id"], **doc, "created_at": doc["created_at"].isoformat(), "via": "outbox"}
    elif dual_write:
        from polydemo.pipeline import dualwrite

        doc = dualwrite.create_post(
            st.settings, author_user.id, title, body, tags, post_id=post_id, crash_between=crash_between
        )
    else:
        doc = posts.create_post(st.settings, author_user.id, title, body, tags, post_id=post_id)
    if st.env.json:
        st.env.emit_json({k: v for k, v in doc.items()})
    else:
        st.env.out.print(f"post [bold]{safe(doc['_id'])}[/bold] by {safe(author_user.email)}: {safe(doc['title'])}")


def like(ctx: typer.Context, post_id: str = typer.Argument(...), json_out: bool = JSON_OPT) -> None:
    """Like a post ($inc of meta.likes in Mongo)."""
    from polydemo.domain import posts

    st = with_json(ctx, json_out)
    doc = posts.like_post(st.settings, post_id)
    if st.env.json:
        st.env.emit_json(doc)
    else:
        st.env.out.print(f"post {safe(doc['_id'])} now has {doc['meta']['likes']} likes")


def read_user(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Email or id."),
    source: str = typer.Option("all", "--from", help="postgres, redis, neo4j or all."),
    json_out: bool = JSON_OPT,
) -> None:
    """What each store holds for a user right now, and how far behind the source it is."""
    from polydemo import reads, views

    st = with_json(ctx, json_out)
    stores = reads.STORES if source == "all" else [source]
    for s in stores:
        if s not in reads.STORES:
            raise PolydemoError(f"unknown store {s!r}", hint=f"use one of: {', '.join(reads.STORES)}, all")
    results = reads.read_user(st.settings, user, stores)
    if st.env.json:
        st.env.emit_json([r.as_dict() for r in results])
    else:
        st.env.out.print(views.reads_table(results))


def trace(
    ctx: typer.Context,
    user: str | None = typer.Argument(None, help="Email (or id) of the user whose latest change to trace."),
    post: str | None = typer.Option(None, "--post", help="Trace a post instead (its id)."),
    wait: float = typer.Option(10.0, "--wait", help="Seconds to wait for every projector to have applied it."),
    json_out: bool = JSON_OPT,
) -> None:
    """One write, hop by hop: source commit → Kafka → each projector's consume → visible in each store (ms)."""
    from polydemo import views
    from polydemo.pipeline import trace as trace_lib

    st = with_json(ctx, json_out)
    if (user is None) == (post is None):
        err = PolydemoError("trace needs a user email or --post POST_ID (one of them)", hint="polydemo trace EMAIL")
        err.exit_code = ExitStatus.USAGE
        raise err
    result = (
        trace_lib.trace_post(st.settings, post, wait)
        if post is not None
        else trace_lib.trace_user(st.settings, user or "", wait)
    )
    if st.env.json:
        st.env.emit_json(result.to_dict())
    else:
        st.env.out.print(views.trace_view(result))
    if not result.complete:
        st.env.info("[warn]some hops are unknown[/warn]: see the reason on each row")


def _print_user(st, data: dict, verb: str) -> None:
    if st.env.json:
        st.env.emit_json(data)
    else:
        st.env.out.print(f"{verb} [bold]{safe(data['email'])}[/bold] ({safe(data['name'])}) id {data['id']}")
        if "bio" in data:
            st.env.out.print(f"bio: {safe(data['bio'])}")


def _print_edge(st, a, b, changed: bool, verb: str, noop: str) -> None:
    if st.env.json:
        st.env.emit_json({"follower": a.email, "followee": b.email, "changed": changed})
    else:
        st.env.out.print(f"{safe(a.email)} {verb if changed else noop} {safe(b.email)}")
