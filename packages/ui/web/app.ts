// The UI's entry module: the pages come next.
const main = document.getElementById('main');
if (main) main.textContent = 'berth';
