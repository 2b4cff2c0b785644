"""Data commands for live demos: seed, signup, profile, follow, unfollow, post, like, read, trace.

Each parses its options, calls one method of the application object (``polydemo.app.Demo``) and prints
its result; the rules (which flags go together, which stores exist) are the app's, shared with the
scenario runner and the web gateway."""

from __future__ import annotations

import getpass
import os

import typer

from polydemo.app import Edge, PostMode
from polydemo.cli.context import command, demo, with_json
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
    st = with_json(ctx, json_out)
    done = demo(ctx).seed(reset=reset, wait=wait)
    if st.env.json:
        st.env.emit_json(done.as_dict())
        return
    result = done.result
    st.env.info(
        f"seeded: {result.users_added} users, {result.follows_added} follows, {result.posts_added} posts added"
        f"{' (after reset)' if reset else ''}"
    )
    if done.converged is False:
        st.env.info("[warn]the projectors have not caught up yet[/warn]: see `polydemo status`")
    elif done.converged:
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
    st = with_json(ctx, json_out)
    if password is None:
        if not os.isatty(0):
            raise PolydemoError("no password given", hint="pass --password or set POLYDEMO_SIGNUP_PASSWORD")
        password = getpass.getpass("password: ")
    _print_user(st, demo(ctx).signup(email, name, password).as_dict(), "signed up")


def update_profile(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Email or id."),
    name: str | None = typer.Option(None, "--name", "-n"),
    bio: str | None = typer.Option(None, "--bio", help="At most 500 characters (the schema-change story's column)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Change a user's display name and/or bio."""
    st = with_json(ctx, json_out)
    data = demo(ctx).update_profile(user, name, bio).as_dict()
    _print_user(st, {**data, **({"bio": bio} if bio is not None else {})}, "updated")


def delete_user(
    ctx: typer.Context, user: str = typer.Argument(..., help="Email or id."), json_out: bool = JSON_OPT
) -> None:
    """Delete a user (and their follows)."""
    st = with_json(ctx, json_out)
    _print_user(st, demo(ctx).delete_user(user).as_dict(), "deleted")


def follow(
    ctx: typer.Context,
    follower: str = typer.Argument(..., help="Email or id of the follower."),
    followee: str = typer.Argument(..., help="Email or id of the one followed."),
    json_out: bool = JSON_OPT,
) -> None:
    """FOLLOWER follows FOLLOWEE (a row in Postgres `follows`; an edge in Neo4j soon after)."""
    _print_edge(with_json(ctx, json_out), demo(ctx).follow(follower, followee), "follows", "already followed")


def unfollow(
    ctx: typer.Context,
    follower: str = typer.Argument(...),
    followee: str = typer.Argument(...),
    json_out: bool = JSON_OPT,
) -> None:
    """FOLLOWER stops following FOLLOWEE."""
    _print_edge(with_json(ctx, json_out), demo(ctx).unfollow(follower, followee), "unfollowed", "was not following")


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
    st = with_json(ctx, json_out)
    mode = PostMode.from_flags(dual_write, outbox_mode)
    done = demo(ctx).post(author, title, body, tags, mode, crash_between=crash_between, post_id=post_id)
    if done.crashed:  # the injected crash: the writer's exit status, as when the writer was this process
        if mode is PostMode.OUTBOX:
            st.env.info(
                "the outbox writer was SIGKILLed before COMMIT (injected): nothing committed, nothing published"
            )
        raise typer.Exit(int(ExitStatus.INJECTED_CRASH))
    if st.env.json:
        st.env.emit_json(done.as_dict())
    else:
        st.env.out.print(f"post [bold]{safe(done.post_id)}[/bold] by {safe(done.author.email)}: {safe(done.title)}")


def like(ctx: typer.Context, post_id: str = typer.Argument(...), json_out: bool = JSON_OPT) -> None:
    """Like a post ($inc of meta.likes in Mongo)."""
    st = with_json(ctx, json_out)
    done = demo(ctx).like(post_id)
    if st.env.json:
        st.env.emit_json(done.doc)
    else:
        st.env.out.print(f"post {safe(done.post_id)} now has {done.likes} likes")


def read_user(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="Email or id."),
    source: str = typer.Option("all", "--from", help="postgres, redis, neo4j or all."),
    json_out: bool = JSON_OPT,
) -> None:
    """What each store holds for a user right now, and how far behind the source it is."""
    from polydemo import views

    st = with_json(ctx, json_out)
    reads = demo(ctx).read_user(user, source)
    if st.env.json:
        st.env.emit_json(reads.as_dict())
    else:
        st.env.out.print(views.reads_table(reads.results))


def trace(
    ctx: typer.Context,
    user: str | None = typer.Argument(None, help="Email (or id) of the user whose latest change to trace."),
    post: str | None = typer.Option(None, "--post", help="Trace a post instead (its id)."),
    wait: float = typer.Option(10.0, "--wait", help="Seconds to wait for every projector to have applied it."),
    json_out: bool = JSON_OPT,
) -> None:
    """One write, hop by hop: source commit → Kafka → each projector's consume → visible in each store (ms)."""
    from polydemo import views

    st = with_json(ctx, json_out)
    result = demo(ctx).trace(user, post, wait)
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


def _print_edge(st, edge: Edge, verb: str, noop: str) -> None:
    if st.env.json:
        st.env.emit_json(edge.as_dict())
    else:
        st.env.out.print(f"{safe(edge.follower.email)} {verb if edge.changed else noop} {safe(edge.followee.email)}")
