<?php
// Router for `php -S`: serves a Debian WordPress (/usr/share/wordpress) the way
// Apache would with pretty links: real files as they are, wp-content from the
// test site's own folder, everything else through index.php.
$_SERVER['WORDPRESS_CONFIG'] = getenv('MATBAA_WP_CONFIG');
$root = $_SERVER['DOCUMENT_ROOT'];
$path = urldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));

// Apache without mod_rewrite (pretty links off) has no /wp-json/: only ?rest_route=.
if (strpos($path, '/wp-json') === 0 && file_exists(getenv('MATBAA_WP_CONTENT') . '/../no-rewrite')) {
    http_response_code(404);
    header('Content-Type: text/html');
    echo '<html><body><h1>Not Found</h1></body></html>';
    return true;
}

if (strpos($path, '/wp-content/') === 0) {
    $content = realpath(getenv('MATBAA_WP_CONTENT'));
    $file = realpath($content . substr($path, strlen('/wp-content')));
    if ($file === false || strpos($file, $content . '/') !== 0 || !is_file($file)) {
        http_response_code(404);
        return true;
    }
    if (substr($file, -4) === '.php') {
        chdir(dirname($file));
        require $file;
        return true;
    }
    $types = ['png' => 'image/png', 'jpg' => 'image/jpeg', 'jpeg' => 'image/jpeg',
              'gif' => 'image/gif', 'css' => 'text/css', 'js' => 'text/javascript',
              'svg' => 'image/svg+xml', 'woff2' => 'font/woff2', 'json' => 'application/json'];
    $ext = strtolower(pathinfo($file, PATHINFO_EXTENSION));
    header('Content-Type: ' . ($types[$ext] ?? 'application/octet-stream'));
    header('Content-Length: ' . filesize($file));
    readfile($file);
    return true;
}

$file = $root . $path;
if ($path !== '/' && is_file($file)) {
    if (substr($file, -4) !== '.php') {
        return false;                 // static files: the built-in server sends them
    }
    chdir(dirname($file));
    $_SERVER['SCRIPT_NAME'] = $path;
    require $file;
    return true;
}
if (is_dir($file) && is_file(rtrim($file, '/') . '/index.php')) {
    chdir($file);
    require rtrim($file, '/') . '/index.php';
    return true;
}
chdir($root);
$_SERVER['SCRIPT_NAME'] = '/index.php';
require $root . '/index.php';
