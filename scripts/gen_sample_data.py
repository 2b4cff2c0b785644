"""Regenerate the deterministic sample data: polydemo/data/users.json and posts.json.

Run once when the sample changes (`python scripts/gen_sample_data.py`); the output is committed,
so every demo run shows the same people, follows and posts. Ids are uuid5 of the email.
"""

import json
import random
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NS = uuid.UUID("6f1c2a4e-9b1d-4c55-8d8e-0d3c7a1e5b42")

NAMES = [
    "Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
    "Margaret Hamilton", "Ken Thompson", "Dennis Ritchie", "Frances Allen", "John Backus", "Leslie Lamport",
    "Radia Perlman", "Tim Berners-Lee", "Jim Gray", "Michael Stonebraker", "Edgar Codd", "Shafi Goldwasser",
    "Tony Hoare", "Niklaus Wirth", "Adele Goldberg", "Butler Lampson", "Sophie Wilson", "Vint Cerf",
    "Bjarne Stroustrup", "Guido van Rossum", "Anita Borg", "Jean Sammet", "Hedy Lamarr", "Karen Sparck Jones",
    "Fernando Corbato", "Kristen Nygaard", "Ole-Johan Dahl", "Annie Easley", "Mary Kenneth Keller", "Lynn Conway",
]

TOPICS = {
    "databases": ["Why the WAL is the database", "Indexes I regret", "Isolation levels, honestly",
                  "B-trees on a napkin", "The join I should not have written"],
    "streaming": ["Offsets are promises", "Exactly-once is a projection", "Lag is a feature",
                  "Consumer groups explained with pizza", "What a rebalance feels like"],
    "graphs": ["Six hops to anyone", "Followers of followers", "When a table wants to be a graph"],
    "cache": ["There are two hard things", "TTL is a guess", "Invalidate on write, not on hope"],
    "history": ["Notes from 1970", "The first bug", "Punch cards and patience"],
}


def slug(name: str) -> str:
    return name.lower().replace(" ", ".").replace("-", "")


def main() -> None:
    rng = random.Random(20261125)
    users = []
    for name in NAMES:
        email = f"{slug(name)}@example.org"
        users.append({"id": str(uuid.uuid5(NS, email)), "email": email, "name": name})
    follows = set()
    for i, u in enumerate(users):
        for j in rng.sample(range(len(users)), k=rng.randint(2, 7)):
            if j != i:
                follows.add((u["id"], users[j]["id"]))
    # A few celebrities, so "most followed" is a story.
    for star in (0, 1, 2):
        for u in users[3:]:
            if rng.random() < 0.5 and u["id"] != users[star]["id"]:
                follows.add((u["id"], users[star]["id"]))
    follows_list = [{"follower_id": a, "followee_id": b} for a, b in sorted(follows)]
    (ROOT / "polydemo" / "data" / "users.json").write_text(
        json.dumps({"password": "demo-password-not-secret", "users": users, "follows": follows_list}, indent=2) + "\n")

    posts = []
    for n in range(60):
        author = users[rng.randrange(len(users))]
        tag = rng.choice(sorted(TOPICS))
        title = rng.choice(TOPICS[tag])
        posts.append({
            "_id": str(uuid.uuid5(NS, f"post-{n}")),
            "author_id": author["id"],
            "title": title,
            "body": f"{author['name']} on {tag}: {title.lower()}. Post #{n + 1} of the polydemo sample.",
            "tags": sorted({tag, rng.choice(sorted(TOPICS))}),
            "meta": {"likes": rng.randint(0, 40)},
        })
    (ROOT / "posts.json").write_text(json.dumps(posts, indent=2) + "\n")
    print(f"{len(users)} users, {len(follows_list)} follows, {len(posts)} posts")


if __name__ == "__main__":
    main()
