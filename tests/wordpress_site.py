"""A real WordPress for the tests: Debian's ``wordpress`` package served by ``php -S``.

MariaDB runs from its own data folder on 127.0.0.1, WordPress reads a config
file of its own in /etc/wordpress (Debian's wp-config.php looks there), and
``wp-content`` is a temporary folder holding the uploads, the theme and our
plugin.  ``WordPressSite.start()`` builds all of it and ``stop()`` removes it.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources" / "wordpress"
PLUGIN = Path(__file__).resolve().parent.parent / "integrations" / "wordpress" / "matbaa-print"
WORDPRESS = Path("/usr/share/wordpress")
CONFIG_DIR = Path("/etc/wordpress")


def missing_reason():
    """Why a WordPress cannot be started here, or None."""
    for program in ("php", "mariadbd", "mariadb-install-db"):
        if not (shutil.which(program) or Path("/usr/sbin", program).exists()):
            return f"{program} is not installed (scripts/dev installs it)"
    if not (WORDPRESS / "wp-load.php").is_file():
        return "Debian's wordpress package is not installed (scripts/dev installs it)"
    if not os.access(CONFIG_DIR, os.W_OK):
        return f"{CONFIG_DIR} is not writable: run the WordPress tests as root"
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _end(process):
    """Stop a server started in its own session, with every process it forked."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGKILL)     # forked workers outliving their parent
    except ProcessLookupError:
        pass


def _wait_for(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


class WordPressSite:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.name = f"matbaa-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.config_file = CONFIG_DIR / f"config-{self.name}.php"
        self.db_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.content = self.folder / "wp-content"
        self.processes = []
        self.made = {}

    # -- life cycle -------------------------------------------------------------

    def start(self, lead_image):
        self._start_database()
        self._write_config()
        self.made = json.loads(self._php([str(RESOURCES / "setup.php"), str(lead_image)]))
        self._start_web()
        return self

    def stop(self):
        while self.processes:
            _end(self.processes.pop())
        self.config_file.unlink(missing_ok=True)

    def stop_web(self):
        """Take the site down (as if WordPress crashed), leaving the database up."""
        _end(self.processes.pop())

    def start_web(self):
        self._start_web()

    @contextlib.contextmanager
    def without_pretty_links(self):
        """As on a server without URL rewriting: plain permalinks and no /wp-json/."""
        flag = self.folder / "no-rewrite"
        self.php("update_option('permalink_structure', ''); flush_rewrite_rules();")
        flag.touch()
        try:
            yield
        finally:
            flag.unlink()
            self.php("update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');"
                     " flush_rewrite_rules();")

    @contextlib.contextmanager
    def database_unreachable(self):
        """WordPress up, its database not: point it at a port nobody listens on."""
        config = self.config_file.read_text(encoding="utf-8")
        self.config_file.write_text(config.replace(
            f"127.0.0.1:{self.db_port}", f"127.0.0.1:{free_port()}"), encoding="utf-8")
        try:
            yield
        finally:
            self.config_file.write_text(config, encoding="utf-8")

    # -- helpers for tests ---------------------------------------------------------

    def php(self, code):
        """Run PHP code inside the site (wp-load.php loaded); return what it printed."""
        return self._php([str(RESOURCES / "eval.php")], stdin=code)

    def new_post(self, title, content, **fields):
        """Publish a post (author, category of the set-up post); return its id."""
        extra = "".join(f"{json.dumps(k)} => {json.dumps(v, ensure_ascii=False)}, "
                        for k, v in fields.items())
        code = (f"$id = wp_insert_post(['post_title' => {json.dumps(title, ensure_ascii=False)},"
                f" 'post_content' => {json.dumps(content, ensure_ascii=False)},"
                f" 'post_status' => 'publish', 'post_author' => {self.made['author']},"
                f" 'post_category' => [{self.made['categories']['kuwait']}], {extra}], true);"
                " if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }"
                " echo $id;")
        return int(self.php(code))

    def update_post(self, post_id, **fields):
        values = "".join(f"{json.dumps(k)} => {json.dumps(v, ensure_ascii=False)}, "
                         for k, v in fields.items())
        # WordPress keeps modified_gmt to the second: wait for the next one, so
        # an edit always shows as a change.
        time.sleep(1.05)
        self.php(f"wp_update_post(['ID' => {int(post_id)}, {values}], true);")

    def get_json(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)

    # -- internals ----------------------------------------------------------------

    def _env(self):
        return {**os.environ, "MATBAA_WP_CONFIG": self.name, "MATBAA_WP_URL": self.url,
                "MATBAA_WP_CONTENT": str(self.content)}

    def _php(self, args, stdin=None):
        result = subprocess.run(["php", *args], input=stdin, env=self._env(),
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"php {args[0]} failed: {result.stderr or result.stdout}")
        return result.stdout

    def _start_database(self):
        data = self.folder / "mariadb"
        self.socket = self.folder / "mariadb.sock"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--skip-test-db",
             "--auth-root-authentication-method=socket", *user],
            check=True, capture_output=True, timeout=120)
        with open(self.folder / "mariadb.log", "wb") as log:   # the child keeps its own copy
            self.processes.append(subprocess.Popen(
                ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}",
                 f"--socket={self.socket}", f"--port={self.db_port}",
                 "--bind-address=127.0.0.1", f"--pid-file={self.folder / 'mariadb.pid'}",
                 "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                 *user], stdout=log, stderr=log, start_new_session=True))

        def ready():
            return subprocess.run(
                ["mariadb-admin", "--no-defaults", f"--socket={self.socket}", "-uroot", "ping"],
                capture_output=True).returncode == 0
        _wait_for(ready, "MariaDB")
        self.db_password = secrets.token_hex(12)
        sql = ("CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
               f"CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY '{self.db_password}';"
               "GRANT ALL ON wordpress.* TO 'wp'@'127.0.0.1';")
        subprocess.run(["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot",
                        "-e", sql], check=True, capture_output=True, timeout=30)

    def _write_config(self):
        for folder in ("uploads", "plugins", "themes"):
            (self.content / folder).mkdir(parents=True, exist_ok=True)
        for theme in (WORDPRESS / "wp-content" / "themes").iterdir():
            (self.content / "themes" / theme.name).symlink_to(theme)
        if PLUGIN.is_dir():
            (self.content / "plugins" / PLUGIN.name).symlink_to(PLUGIN)
        salts = "".join(
            f"define('{name}', '{secrets.token_hex(32)}');\n" for name in (
                "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
                "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
        self.config_file.write_text(f"""<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', '{self.db_password}');
define('DB_HOST', '127.0.0.1:{self.db_port}');
define('WP_HOME', '{self.url}');
define('WP_SITEURL', '{self.url}');
define('WP_CONTENT_DIR', '{self.content}');
define('WP_CONTENT_URL', '{self.url}/wp-content');
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', false);
{salts}""", encoding="utf-8")

    def _start_web(self):
        env = {**self._env(), "PHP_CLI_SERVER_WORKERS": "4"}
        with open(self.folder / "php.log", "ab") as log:
            self.processes.append(subprocess.Popen(
                # OPcache runs under php -S: have it see changed files (our config) at once.
                ["php", "-d", "opcache.revalidate_freq=0", "-S", f"127.0.0.1:{self.port}", "-t", str(WORDPRESS),
                 str(RESOURCES / "router.php")], env=env, stdout=log, stderr=log,
                # PHP_CLI_SERVER_WORKERS forks workers: a group of their own ends them all.
                start_new_session=True))

        def ready():
            try:
                with urllib.request.urlopen(self.url + "/wp-json/", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        _wait_for(ready, "WordPress")
